# dividere: the two commands of the quick start are `make demo` and `make test`.
# Each installs what is missing first (Debian packages via scripts/deps.sh).

GO        ?= go
PROTOC_GEN_GO_VERSION := v1.36.12
BENCHTIME ?= 2s
FUZZTIME  ?= 2m

.PHONY: all deps deps-test deps-proto demo test bench benchsuite proto fuzz vet

all: test

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

deps-proto:
	@scripts/deps.sh proto

# The repository holds six modules: the core library (here), and beside
# it registry/etcdstore (etcd), metrics (Prometheus), tracing
# (OpenTelemetry), cmd/dividere (the command) and bench (the comparison
# with NATS and gRPC), so that the core pulls in nothing heavy.
NESTED := registry/etcdstore metrics tracing cmd/dividere

## demo: the main job, a tour of what dividere does, in one process.
demo: deps
	cd cmd/dividere && $(GO) run . demo

## test: every test, with the race detector, on the pure-Go engine, and the connection
## layer and its conformance on libzmq too; plus vet, gofmt, a CGO_ENABLED=0 build of the
## core module and of the command (which then runs the demo), and short fuzz runs.
test: deps-test vet
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 100000x -fuzzminimizetime 100x ./messaging
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 100000x -fuzzminimizetime 100x ./internal/zmtp/wire
	$(GO) test -run '^$$' -fuzz FuzzHandshake -fuzztime 20000x -fuzzminimizetime 100x ./internal/zmtp
	cd cmd/dividere && CGO_ENABLED=0 $(GO) run . demo >/dev/null
	DIVIDERE_ZMQ=go $(GO) test -race -count=1 -timeout 9m ./...
	DIVIDERE_ZMQ=libzmq $(GO) test -race -count=1 -timeout 5m ./connection ./internal/zmtp/...
	DIVIDERE_ZMQ=go $(GO) test -count=1 -timeout 2m -run 'Memory|CannotGrow' ./service ./patterns # RSS, without the race detector's shadow
	for m in $(NESTED) bench; do (cd $$m && DIVIDERE_ZMQ=go $(GO) test -race -count=1 -timeout 5m ./...) || exit 1; done

## fuzz: fuzz the envelope decoder, the ZMTP frame reader and the handshake for longer
## (FUZZTIME each, default 2m).
fuzz: deps
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./messaging
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime $(FUZZTIME) ./internal/zmtp/wire
	$(GO) test -run '^$$' -fuzz FuzzHandshake -fuzztime $(FUZZTIME) ./internal/zmtp

vet:
	@scripts/bigfiles.sh
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./... && CGO_ENABLED=0 $(GO) vet ./...
	for m in $(NESTED) bench; do (cd $$m && $(GO) vet ./...) || exit 1; done

## bench: every layer's Go benchmarks (raw libzmq side by side).
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...
	cd registry/etcdstore && $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...

## benchsuite: dividere against raw libzmq, NATS, gRPC and Python, each side in its own
## process; writes bench/results.{md,json,svg}. The suite is its own module (bench/).
benchsuite: deps-test
	cd bench && $(GO) run . -out .

## proto: regenerate msglib/, internal/testpb/, internal/readmepb/ and examples/greeter/greetpb/ (Go) and interop/python/ (Python) from their .proto files.
proto: deps-proto
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	protoc -I proto --plugin=protoc-gen-go=bin/protoc-gen-go \
	  --go_out=. --go_opt=module=github.com/dividere-go/dividere \
	  --python_out=interop/python \
	  proto/*.proto
	protoc -I proto/testmsgs --plugin=protoc-gen-go=bin/protoc-gen-go \
	  --go_out=. --go_opt=module=github.com/dividere-go/dividere \
	  --python_out=interop/python \
	  proto/testmsgs/*.proto
	protoc -I proto/readme --plugin=protoc-gen-go=bin/protoc-gen-go \
	  --go_out=. --go_opt=module=github.com/dividere-go/dividere \
	  proto/readme/*.proto
	protoc -I examples/greeter --plugin=protoc-gen-go=bin/protoc-gen-go \
	  --go_out=. --go_opt=module=github.com/dividere-go/dividere \
	  examples/greeter/greet.proto
