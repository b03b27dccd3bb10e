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
	front, err := rawBound(zmq.ROUTER)
	if err != nil {
		return err
	}
	back, err := rawBound(zmq.ROUTER)
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

// runProxy is the cheapest broker hop libzmq has: zmq_proxy, its own
// forwarding loop in C, between a ROUTER front end and a DEALER back end
// that deals requests to REP workers in turn. It keeps no list of free
// workers and makes no decision per request, so no broker written over
// libzmq can forward for less. It says WORKERS once as many connections
// as there are workers have been accepted on the back end.
func runProxy(workers int) error {
	front, err := rawBound(zmq.ROUTER)
	if err != nil {
		return err
	}
	back, err := rawBound(zmq.DEALER)
	if err != nil {
		return err
	}
	const mon = "inproc://proxy-back"
	if err := back.Monitor(mon, zmq.EVENT_ACCEPTED); err != nil {
		return err
	}
	events, err := zmq.NewSocket(zmq.PAIR)
	if err != nil {
		return err
	}
	if err := events.Connect(mon); err != nil {
		return err
	}
	fe, _ := front.GetLastEndpoint()
	be, _ := back.GetLastEndpoint()
	say("READY %s %s", fe, be)
	go func() {
		for accepted := 0; accepted < workers; accepted++ {
			if _, _, _, err := events.RecvEvent(0); err != nil {
				return
			}
		}
		say("WORKERS")
	}()
	go func() {
		untilParentGoes()
		os.Exit(0) // zmq_proxy owns both sockets until then
	}()
	return zmq.Proxy(front, back, nil)
}

// rawBound is a pebbe socket of type typ with no high-water marks, bound
// to a free local port.
func rawBound(typ zmq.Type) (*zmq.Socket, error) {
	s, err := zmq.NewSocket(typ)
	if err != nil {
		return nil, err
	}
	s.SetSndhwm(0)
	s.SetRcvhwm(0)
	return s, s.Bind("tcp://127.0.0.1:*")
}

// runRawWorkers starts n echoing workers on a raw broker's back end,
// each in a thread of its own, until the parent goes: REQ workers that
// announce themselves with READY for the guide's broker (typ zmq.REQ),
// REP workers for zmq_proxy's DEALER (zmq.REP).
func runRawWorkers(endpoint string, n int, typ zmq.Type) error {
	for range n {
		w, err := zmq.NewSocket(typ)
		if err != nil {
			return err
		}
		w.SetSndhwm(0)
		w.SetRcvhwm(0)
		if err := w.Connect(endpoint); err != nil {
			return err
		}
		if typ == zmq.REQ {
			if _, err := w.Send("READY", 0); err != nil {
				return err
			}
		}
		go func() {
			for {
				m, err := w.RecvMessageBytes(0) // REQ: [client, "", request]
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
