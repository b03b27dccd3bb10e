module github.com/dividere-go/dividere

go 1.26

require (
	github.com/pebbe/zmq4 v1.4.0
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.12
)
