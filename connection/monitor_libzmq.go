//go:build libzmq && cgo

package connection

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/dividere-go/dividere/internal/endpoint"
	"github.com/dividere-go/dividere/internal/zmtp"
)

var monitorSeq atomic.Uint64

// startMonitor reads the socket's libzmq monitor stream, over an inproc
// PAIR of its own, in a goroutine.
func startMonitor(s *Socket) (*monitor, error) {
	addr := fmt.Sprintf("inproc://dividere-monitor-%d", monitorSeq.Add(1))
	if err := s.zs.Monitor(addr, zmq.EVENT_ALL); err != nil {
		return nil, zmqErr("monitor", err)
	}
	cfg := s.cfg
	cfg.monitor = false
	cfg.heartbeat = 0
	cfg.events = nil
	cfg.curveServer, cfg.curveClient, cfg.curveAllow = nil, nil, nil
	// Nothing of the owner's kind: no identity, topics, peer keys.
	cfg.identity, cfg.topics, cfg.topicsSet, cfg.userID, cfg.slowWait = "", nil, false, false, 0
	cfg.name = s.name + "-monitor"
	pair, err := newSocket(kind{typ: zmtp.PAIR}, ">"+addr, endpoint.Connect, cfg)
	if err != nil {
		s.zs.Monitor("", 0)
		return nil, err
	}
	// Its goroutine waits nearly always: it neither counts among the
	// process's waiters nor holds a thread in the blocking poll.
	pair.background = true
	m := newMonitor(s)
	m.pair = pair
	go m.run()
	return m, nil
}

func (m *monitor) run() {
	defer close(m.done)
	defer m.pair.Close()
	for {
		msg, err := m.pair.recv(context.Background())
		if err != nil {
			return
		}
		if len(msg) < 2 || len(msg[0]) < 6 {
			continue
		}
		ev := Event{
			Socket:   m.owner.name,
			Kind:     EventKind(binary.NativeEndian.Uint16(msg[0][:2])),
			Value:    int(int32(binary.NativeEndian.Uint32(msg[0][2:6]))),
			Endpoint: string(msg[1]),
			Time:     time.Now(),
		}
		if ev.Kind == EventMonitorStopped {
			return
		}
		m.handle(ev)
	}
}

// stop waits for the monitor goroutine, which ends on MONITOR_STOPPED;
// past the timeout it closes the monitor socket under it.
func (m *monitor) stopLibzmq(timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-m.done:
	case <-t.C:
		m.pair.Close()
		<-m.done
	}
}
