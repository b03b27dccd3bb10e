# dividere: the two commands of the quick start are `make demo` and `make test`.
# Each installs what is missing first (Debian packages via scripts/deps.sh).

GO        ?= go
PROTOC_GEN_GO_VERSION := v1.36.12
BENCHTIME ?= 2s
FUZZTIME  ?= 2m

.PHONY: all deps deps-test deps-proto demo test bench benchsuite proto fuzz vet cross release

all: test

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

deps-proto:
	@scripts/deps.sh proto

# The repository holds seven modules: the core library (here), and beside
# it registry/etcdstore (etcd), metrics (Prometheus), tracing
# (OpenTelemetry), cmd/dividere (the command), internal/etcdtest (real
# etcd servers for the tests of etcdstore and the command) and bench (the
# comparison with NATS and gRPC), so that the core pulls in nothing heavy.
NESTED := internal/etcdtest registry/etcdstore metrics tracing cmd/dividere

## demo: the main job, a tour of what dividere does, in one process.
demo: deps
	cd cmd/dividere && $(GO) run . demo

## test: every test, with the race detector, on the pure-Go engine, and the connection
## layer and its conformance on the opt-in libzmq engine too (-tags libzmq); plus vet,
## gofmt, a CGO_ENABLED=0 build of the core module and of the command (which then runs
## the demo), the release targets' cross-builds, and short fuzz runs.
test: deps-test vet cross
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 100000x -fuzzminimizetime 100x ./messaging
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 100000x -fuzzminimizetime 100x ./internal/zmtp/wire
	$(GO) test -run '^$$' -fuzz FuzzHandshake -fuzztime 20000x -fuzzminimizetime 100x ./internal/zmtp
	$(GO) test -run '^$$' -fuzz FuzzCurveHandshake -fuzztime 5000x -fuzzminimizetime 100x ./internal/zmtp/mech
	cd cmd/dividere && CGO_ENABLED=0 $(GO) run . demo >/dev/null
	DIVIDERE_ZMQ=go $(GO) test -race -count=1 -timeout 9m ./...
	DIVIDERE_ZMQ=libzmq $(GO) test -tags libzmq -race -count=1 -timeout 5m ./connection ./internal/zmtp/...
	DIVIDERE_ZMQ=go $(GO) test -count=1 -timeout 2m -run 'Memory|CannotGrow' ./service ./patterns # RSS, without the race detector's shadow
	for m in $(NESTED) bench; do (cd $$m && DIVIDERE_ZMQ=go $(GO) test -race -count=1 -timeout 5m ./...) || exit 1; done

## fuzz: fuzz the envelope decoder, the ZMTP frame reader, the handshake and the CURVE
## handshake for longer (FUZZTIME each, default 2m).
fuzz: deps
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./messaging
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime $(FUZZTIME) ./internal/zmtp/wire
	$(GO) test -run '^$$' -fuzz FuzzHandshake -fuzztime $(FUZZTIME) ./internal/zmtp
	$(GO) test -run '^$$' -fuzz FuzzCurveHandshake -fuzztime $(FUZZTIME) ./internal/zmtp/mech

vet:
	@scripts/bigfiles.sh
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./... && CGO_ENABLED=0 $(GO) vet ./...
	$(GO) vet -tags libzmq ./connection ./internal/...
	for m in $(NESTED) bench; do (cd $$m && $(GO) vet ./...) || exit 1; done

# The platforms a release ships the dividere command for, all built with
# CGO_ENABLED=0: static binaries, no C toolchain, no libzmq.
RELEASE_TARGETS := linux/amd64 linux/arm64 darwin/arm64 windows/amd64
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

## cross: the core module and the command build and vet for every release target (the
## host's own is the CGO_ENABLED=0 build and vet of `make vet`, and the demo run).
cross:
	@host=$$($(GO) env GOOS)/$$($(GO) env GOARCH); for t in $(RELEASE_TARGETS); do \
	  [ $$t = $$host ] && continue; \
	  echo "cross: $$t"; \
	  export CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/}; \
	  $(GO) build ./... && $(GO) vet ./... && (cd cmd/dividere && $(GO) build -o /dev/null . && $(GO) vet ./...) || exit 1; \
	done

## release: static dividere binaries for every release target, in dist/.
release:
	@mkdir -p dist
	@for t in $(RELEASE_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  out=$(CURDIR)/dist/dividere-$(VERSION)-$$os-$$arch$$ext; \
	  (cd cmd/dividere && CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w" -o $$out .) || exit 1; \
	  echo "$$out"; \
	done

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
