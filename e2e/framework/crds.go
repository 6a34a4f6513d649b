package framework

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Versions of the modules the CRDs come from. They match the e2e module's
// go.mod (and the product's), so the CRDs and the Go types tests use agree.
const (
	CertManagerVersion = "v1.21.2"
	IstioAPIVersion    = "v1.32.0"
	// GatewayAPIVersion is what cert-manager CertManagerVersion is built
	// against; its CRDs are installed for cert-manager's gateway-shim, or
	// when a test asks for them (ControlPlane.InstallGatewayAPI).
	GatewayAPIVersion = "v1.6.0"
)

//go:embed istiooperator-crd.yaml
var istioOperatorCRD []byte

// crdSource is a set of CRD manifests inside a module zip.
type crdSource struct {
	module, version string
	// paths inside the module: files, or directories whose *.yaml files are read.
	paths []string
}

var (
	certManagerCRDs = crdSource{"github.com/cert-manager/cert-manager", CertManagerVersion, []string{"deploy/crds"}}
	istioCRDs       = crdSource{"istio.io/api", IstioAPIVersion, []string{"kubernetes/customresourcedefinitions.gen.yaml"}}
	gatewayAPICRDs  = crdSource{"sigs.k8s.io/gateway-api", GatewayAPIVersion, []string{"config/crd/standard"}}
)

// loadedCRDs caches parsed CRDs per source: every control plane of a test
// process installs the same ones, so the module cache is read once.
var loadedCRDs sync.Map // crdSource.module -> *crdLoad

type crdLoad struct {
	once sync.Once
	crds []*apiextensionsv1.CustomResourceDefinition
	err  error
}

func (s crdSource) load(ctx context.Context) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	value, _ := loadedCRDs.LoadOrStore(s.module, &crdLoad{})
	load := value.(*crdLoad)
	load.once.Do(func() { load.crds, load.err = s.read(ctx) })
	if load.err != nil {
		return nil, load.err
	}
	// Callers get copies: the client fills in fields on create.
	copies := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(load.crds))
	for _, crd := range load.crds {
		copies = append(copies, crd.DeepCopy())
	}
	return copies, nil
}

func (s crdSource) read(ctx context.Context) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	dir, err := moduleDir(ctx, s.module, s.version)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, path := range s.paths {
		full := filepath.Join(dir, path)
		info, err := os.Stat(full)
		if err != nil {
			return nil, fmt.Errorf("failed to find the CRDs of %s@%s: %w", s.module, s.version, err)
		}
		if !info.IsDir() {
			files = append(files, full)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(full, "*.yaml"))
		if err != nil {
			return nil, fmt.Errorf("failed to list the CRDs in %s: %w", full, err)
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", file, err)
		}
		parsed, err := parseCRDs(data)
		if err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", file, err)
		}
		crds = append(crds, parsed...)
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs found in %s@%s %v", s.module, s.version, s.paths)
	}
	return crds, nil
}

// ModuleDir asks the go command where a module version is extracted,
// downloading it through the module proxy if this machine lacks it.
func ModuleDir(ctx context.Context, module, version string) (string, error) {
	return moduleDir(ctx, module, version)
}

func moduleDir(ctx context.Context, module, version string) (string, error) {
	goBinary, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("failed to find the go command to locate %s@%s: %w", module, version, err)
	}
	cmd := exec.CommandContext(ctx, goBinary, "mod", "download", "-json", module+"@"+version)
	// Outside any module, so the e2e module's settings do not interfere.
	cmd.Dir = os.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("failed to download %s@%s: %w: %s", module, version, err, stderr.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("failed to decode go mod download output for %s@%s: %w", module, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("failed to download %s@%s: %s", module, version, info.Error)
	}
	return info.Dir, nil
}

// parseCRDs decodes every CustomResourceDefinition of a multi-document YAML
// stream, skipping empty documents and other kinds.
// InstallGatewayAPI installs the Gateway API CRDs (standard channel, at
// GatewayAPIVersion) into the running plane, without cert-manager's
// gateway-shim, and returns once the API server serves them: for tests of
// what a meshcert started before them does.
func (cp *ControlPlane) InstallGatewayAPI(ctx context.Context) error {
	crds, err := gatewayAPICRDs.load(ctx)
	if err != nil {
		return err
	}
	return installCRDs(ctx, cp.Client, crds)
}

func parseCRDs(data []byte) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var crds []*apiextensionsv1.CustomResourceDefinition
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := decoder.Decode(crd); err != nil {
			if errors.Is(err, io.EOF) {
				return crds, nil
			}
			return nil, fmt.Errorf("failed to decode a CRD: %w", err)
		}
		if crd.Kind == "" && crd.Name == "" {
			continue
		}
		if crd.Kind != "CustomResourceDefinition" {
			// gateway-api ships a ValidatingAdmissionPolicy among its CRDs
			// (it guards upgrades); only the CRDs are wanted here.
			continue
		}
		crds = append(crds, crd)
	}
}

// installCRDs creates the CRDs and waits until the API server serves all of
// them.
func installCRDs(ctx context.Context, c client.Client, crds []*apiextensionsv1.CustomResourceDefinition) error {
	// Concurrently: the API server spends most of a CRD create building its
	// schema, and creates do not depend on each other.
	group, groupCtx := errgroup.WithContext(ctx)
	group.SetLimit(8)
	for _, crd := range crds {
		group.Go(func() error {
			if err := c.Create(groupCtx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("failed to create CRD %s: %w", crd.Name, err)
			}
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		return err
	}
	return poll(ctx, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, crd := range crds {
			current := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, current); err != nil {
				return false, fmt.Errorf("failed to get CRD %s: %w", crd.Name, err)
			}
			if !crdEstablished(current) {
				return false, nil
			}
		}
		return true, nil
	})
}

func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	established, namesAccepted := false, false
	for _, condition := range crd.Status.Conditions {
		switch condition.Type {
		case apiextensionsv1.Established:
			established = condition.Status == apiextensionsv1.ConditionTrue
		case apiextensionsv1.NamesAccepted:
			namesAccepted = condition.Status == apiextensionsv1.ConditionTrue
		default:
		}
	}
	return established && namesAccepted
}
