// Command meshcert wires TLS for Istio gateways to cert-manager.
package main

import (
	"os"
	"path/filepath"

	"github.com/meshcert/meshcert/cmd/meshcert/app"
)

func main() {
	os.Exit(app.Main(filepath.Base(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
