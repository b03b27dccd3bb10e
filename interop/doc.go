// Package interop holds the tests that run dividere against peers written
// in other languages: Python programs in interop/python that use only
// pyzmq and the Protobuf code generated from the same proto/ files. The
// tests need Debian's python3-zmq and python3-protobuf, which `make test`
// installs when they are missing.
package interop
