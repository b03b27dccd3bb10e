module github.com/dividere-go/dividere

go 1.26.0

require (
	github.com/pebbe/zmq4 v1.4.0
	google.golang.org/protobuf v1.36.12
)

require golang.org/x/crypto v0.59.0

require golang.org/x/sys v0.50.0 // indirect
