package service

// CloseSocket closes the socket the service serves on under it, as a
// fault would, for the test of what a Service does when serving ends by
// itself.
func CloseSocket(s *Service) { s.rep.Close() }

// LocalHost is the address a service advertises by default.
var LocalHost = localHost
