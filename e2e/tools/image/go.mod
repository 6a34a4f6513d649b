// Tools module: writes meshcert's container image as a tarball with
// go-containerregistry, no container engine (see main.go). Built by
// `make image`.
module github.com/meshcert/meshcert/e2e/tools/image

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
