package main

var expected = []string{"found github.com/dividere-go/dividere/examples/nameservice.Directory (version 1.0)", "ada sits at desk 42"}
