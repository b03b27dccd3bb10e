package messaging

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/dividere-go/dividere/connection"
	"github.com/dividere-go/dividere/msglib"
)

// Code says why a request failed, in google.rpc.Code numbering (the
// numbering gRPC and connect use), so that codes mean the same in every
// language. It travels in ack.code.
type Code uint32

// The codes, as google.rpc.Code numbers them.
const (
	OK                 Code = 0
	Canceled           Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16
)

var codeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

// String returns the code's google.rpc name, such as "NOT_FOUND"; a code
// outside the table is "CODE(n)".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "CODE(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// Error is a failed request, on both sides of the wire. A handler returns
// one (Errorf) to answer with a specific code; a caller gets one, to be
// read with errors.As or CodeOf, when the answer was ack{ok: false}.
type Error struct {
	Code    Code
	Message string
	cause   error // the handler's own error, kept on the serving side only
}

// Errorf returns an *Error with code and a formatted message. Wrapped
// errors (%w) stay reachable with errors.Is on the serving side; only the
// text travels.
func Errorf(code Code, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), cause: errors.Unwrap(err)}
}

// Error returns "CODE: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}

// Unwrap returns the error the handler wrapped, if any.
func (e *Error) Unwrap() error { return e.cause }

// CodeOf returns the code of err: OK for nil, the code of an *Error in
// its chain, DeadlineExceeded for a timeout (context.DeadlineExceeded or
// connection.ErrTimeout), Canceled for context.Canceled, Unimplemented
// for a request of a type nobody handles or knows, Internal for a handler
// panic, InvalidArgument for a message that cannot be decoded
// (ErrUndecodable) or is of the wrong type (ErrWrongType), and Unknown
// for anything else.
func CodeOf(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return OK
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, connection.ErrTimeout):
		return DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, errUnhandled), errors.Is(err, errUnknownType):
		return Unimplemented
	case errors.Is(err, errHandlerPanic):
		return Internal
	case errors.Is(err, ErrUndecodable), errors.Is(err, ErrWrongType):
		return InvalidArgument
	}
	return Unknown
}

// ackFor returns the refusal that answers a request that failed with
// err: ack{ok: false} with CodeOf(err) and a message. The message of an
// *Error is its own (its author chose it for the caller); a panic's is
// "handler panicked" (its stack stays in the server's log); any other
// error's is its text. A nil err, a request that was never answered, is
// INTERNAL.
func ackFor(err error) *msglib.Ack {
	code := CodeOf(err)
	var e *Error
	msg := ""
	switch {
	case errors.As(err, &e):
		msg = e.Message
	case code == Internal:
		msg = "handler panicked"
	case err != nil:
		msg = err.Error()
	}
	if err == nil {
		code, msg = Internal, "handler sent no reply"
	}
	return &msglib.Ack{Ok: false, Code: uint32(code), Message: msg}
}

// hideText replaces the text of an error that is not an *Error, which
// may tell a caller about the server's insides, with "internal error"
// (WithHiddenErrors).
func hideText(err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) || CodeOf(err) != Unknown {
		return err
	}
	return &Error{Code: Unknown, Message: "internal error", cause: err}
}

// errorOf turns a reply ack{ok: false} into the caller's *Error; any
// other reply is nil.
func errorOf(ack *msglib.Ack) error {
	if ack.GetOk() {
		return nil
	}
	code := Code(ack.GetCode())
	if code == OK {
		code = Unknown // a v1 peer's ack{ok: false}
	}
	return &Error{Code: code, Message: ack.GetMessage()}
}

// ReplyError returns the *Error that a reply ack{ok: false} stands for
// (ack{ok: false} from a v1 peer is Unknown), and nil for any other
// reply: for callers that receive replies themselves (a Dealer, a
// patterns.Client) rather than through Call. A server loop of one's own
// on a Response or Router refuses a request by sending
// &msglib.Ack{Code: uint32(code), Message: text}.
func ReplyError(reply any) error {
	if ack, ok := reply.(*msglib.Ack); ok {
		return errorOf(ack)
	}
	return nil
}
