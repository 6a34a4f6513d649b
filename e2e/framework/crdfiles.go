package framework

import (
	"context"
	"errors"
	"fmt"
	"os"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// InstallCRDFiles creates every CustomResourceDefinition in the YAML files
// (multi-document streams; other kinds are skipped) and returns once the
// API server serves all of them (Established and NamesAccepted), e.g. the
// Sail Operator's CRDs kept as fixtures. CRDs that exist already are left
// as they are. Install them before StartMeshcert for meshcert to watch
// their kinds: its controller checks which kinds are served when it starts.
func (cp *ControlPlane) InstallCRDFiles(ctx context.Context, paths ...string) error {
	if len(paths) == 0 {
		return errors.New("no CRD files given")
	}
	var loaded []string
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", path, err)
		}
		parsed, err := parseCRDs(data)
		if err != nil {
			return fmt.Errorf("failed to parse %s: %w", path, err)
		}
		if len(parsed) == 0 {
			return fmt.Errorf("no CustomResourceDefinition in %s", path)
		}
		crds = append(crds, parsed...)
		for _, crd := range parsed {
			loaded = append(loaded, crd.Name)
		}
	}
	if err := installCRDs(ctx, cp.Client, crds); err != nil {
		return err
	}
	cp.cfg.Logf("installed CRDs %v", loaded)
	return nil
}
