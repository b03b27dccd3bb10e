// Package msglib holds the Go code generated from the wire schema in
// proto/ (docs/protocol.md): the message envelope (MsgEnvelope) and the service
// layer's messages. Do not edit the .pb.go files; run `make proto`.
//
// The messages are declared without a Protobuf package, as the Python
// original declares them, so their full names are bare ("msgEnvelope",
// "RegisterService", …) and other-language peers find them by those names.
package msglib
