//go:build libzmq && cgo

package connection

import zmq "github.com/pebbe/zmq4"

// zconfig holds the options only the libzmq engine has.
type zconfig struct {
	zctx *zmq.Context // WithContext; nil: dividere's own
}

// apply sets the options libzmq needs before bind or connect.
func (c *config) apply(s *zmq.Socket) error {
	set := []error{
		s.SetSndhwm(c.sendHWM),
		s.SetRcvhwm(c.recvHWM),
		s.SetLinger(c.linger),
		s.SetReconnectIvl(c.reconnect),
		s.SetMaxmsgsize(c.maxMsgSize),
		s.SetBacklog(c.backlog),
	}
	if c.reconnectMax >= c.reconnect {
		set = append(set, s.SetReconnectIvlMax(c.reconnectMax))
	}
	if c.heartbeat > 0 {
		set = append(set, s.SetHeartbeatIvl(c.heartbeat), s.SetHeartbeatTimeout(c.heartbeatTmout))
	}
	if c.identity != "" {
		set = append(set, s.SetIdentity(c.identity))
	}
	set = append(set, c.applyCurve(s))
	if c.immediate {
		set = append(set, s.SetImmediate(true))
	}
	for _, err := range set {
		if err != nil {
			return zmqErr("set option", err)
		}
	}
	return nil
}
