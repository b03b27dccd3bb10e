package main

import (
	"os"

	zmq "github.com/pebbe/zmq4"
)

// The reference for the load-balanced workload: the ZeroMQ guide's
// load-balancing broker ("lbbroker") written directly on pebbe/zmq4,
// with REQ clients and REQ workers, as the guide has it. It is what
// libzmq itself costs for a broker hop, without any of dividere's
// heartbeats, capacity, deadlines or retries.

// runRawBroker binds a front end and a back end and hands each request
// to the least recently used worker, until the parent goes.
func runRawBroker(workers int) error {
	front, err := rawRouter()
	if err != nil {
		return err
	}
	back, err := rawRouter()
	if err != nil {
		return err
	}
	fe, _ := front.GetLastEndpoint()
	be, _ := back.GetLastEndpoint()
	say("READY %s %s", fe, be)
	go func() {
		untilParentGoes()
		// The loop below owns both sockets (libzmq's are not
		// thread-safe): leave without closing them.
		os.Exit(0)
	}()
	var free [][]byte // worker identities, least recently used first
	seen := map[string]bool{}
	announced := false
	backOnly := zmq.NewPoller()
	backOnly.Add(back, zmq.POLLIN)
	both := zmq.NewPoller()
	both.Add(back, zmq.POLLIN)
	both.Add(front, zmq.POLLIN)
	for {
		p := backOnly
		if len(free) > 0 {
			p = both
		}
		ready, err := p.Poll(-1)
		if err != nil {
			return nil
		}
		for _, r := range ready {
			switch r.Socket {
			case back:
				// [worker, "", "READY"] or [worker, "", client, "", reply]
				m, err := back.RecvMessageBytes(0)
				if err != nil {
					return nil
				}
				free = append(free, m[0])
				if len(m) == 3 {
					seen[string(m[0])] = true
					if !announced && len(seen) == workers {
						announced = true
						say("WORKERS")
					}
					continue
				}
				front.SendMessage(m[2:])
			case front:
				// [client, "", request]
				m, err := front.RecvMessageBytes(0)
				if err != nil {
					return nil
				}
				w := free[0]
				free = free[1:]
				back.SendMessage(w, "", m)
			}
		}
	}
}

func rawRouter() (*zmq.Socket, error) {
	s, err := zmq.NewSocket(zmq.ROUTER)
	if err != nil {
		return nil, err
	}
	s.SetSndhwm(0)
	s.SetRcvhwm(0)
	return s, s.Bind("tcp://127.0.0.1:*")
}

// runRawWorkers starts n REQ workers on the raw broker's back end, each
// echoing in a thread of its own, until the parent goes.
func runRawWorkers(endpoint string, n int) error {
	for range n {
		w, err := zmq.NewSocket(zmq.REQ)
		if err != nil {
			return err
		}
		w.SetSndhwm(0)
		w.SetRcvhwm(0)
		if err := w.Connect(endpoint); err != nil {
			return err
		}
		if _, err := w.Send("READY", 0); err != nil {
			return err
		}
		go func() {
			for {
				m, err := w.RecvMessageBytes(0) // [client, "", request]
				if err != nil {
					return
				}
				if _, err := w.SendMessage(m); err != nil {
					return
				}
			}
		}()
	}
	say("READY")
	untilParentGoes()
	return nil
}
