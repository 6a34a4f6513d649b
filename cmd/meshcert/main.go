// Command meshcert wires TLS for Istio gateways to cert-manager.
package main

import (
	"os"

	"github.com/meshcert/meshcert/cmd/meshcert/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
