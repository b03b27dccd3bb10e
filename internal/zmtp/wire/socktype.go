package wire

// Compatible reports whether a socket of type local may talk to a peer
// that says it is of type peer, by the table of RFC 23 and libzmq.
func Compatible(local, peer string) bool {
	switch local {
	case "PAIR":
		return peer == "PAIR"
	case "PUB", "XPUB":
		return peer == "SUB" || peer == "XSUB"
	case "SUB", "XSUB":
		return peer == "PUB" || peer == "XPUB"
	case "REQ":
		return peer == "REP" || peer == "ROUTER"
	case "REP":
		return peer == "REQ" || peer == "DEALER"
	case "DEALER":
		return peer == "REP" || peer == "DEALER" || peer == "ROUTER"
	case "ROUTER":
		return peer == "REQ" || peer == "DEALER" || peer == "ROUTER"
	case "PUSH":
		return peer == "PULL"
	case "PULL":
		return peer == "PUSH"
	}
	return false
}
