package framework

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// xDS type URLs a gateway proxy asks istiod for.
const (
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	SecretType   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
	// ProxyConfigType is istiod's PCDS: with ISTIO_MULTIROOT_MESH, the
	// trust bundle in ca_certificates_pem (pilot/pkg/xds/pcds.go).
	ProxyConfigType = "type.googleapis.com/istio.mesh.v1alpha1.ProxyConfig"
)

// ProxyIdentity is what a proxy stand-in tells istiod about itself, as
// istio-agent does in the xDS node, and the credentials it authenticates
// with.
type ProxyIdentity struct {
	// Type is the node type: "router" for a gateway, "sidecar" otherwise.
	Type string
	// Namespace and ServiceAccount are the node's NAMESPACE and
	// SERVICE_ACCOUNT; istiod refuses a connection whose authenticated
	// identity does not match them.
	Namespace, ServiceAccount string
	// PodName names the workload in the node ID.
	PodName string
	// IP is the node's address. With no Pod of that IP in the cluster,
	// istiod takes the workload's labels from Labels.
	IP     string
	Labels map[string]string
	// Token is a ServiceAccount token for istiod's audience (IstioCAToken),
	// sent as istio-agent sends it.
	Token string
	// Certificate, when set, is presented to istiod as the client
	// certificate: the workload certificate istiod's CA signed.
	Certificate *tls.Certificate
}

// XDSResponse is one response istiod sent on a stream.
type XDSResponse struct {
	TypeURL, Version string
	// Names of the resources it held.
	Names []string
	At    time.Time
}

// XDSClient is a proxy stand-in: one aggregated (state-of-the-world) xDS
// stream to istiod's secure port, which acknowledges every response and
// keeps the latest resources of each type.
type XDSClient struct {
	conn   *grpc.ClientConn
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	cancel context.CancelFunc
	node   *core.Node
	done   chan struct{}

	sendMu sync.Mutex
	mu     sync.Mutex
	// changed is closed and replaced on every response or error.
	changed       chan struct{}
	subscriptions map[string][]string
	resources     map[string]map[string]*anypb.Any
	responses     []XDSResponse
	err           error
	sentNode      bool
}

// ConnectProxy opens an xDS stream to istiod's secure gRPC port as the
// proxy described by id, verifying istiod's serving certificate as
// SignWorkloadCSR does. istiod authenticates and authorizes the stream on
// the first request, so an identity it refuses shows in Err after
// Subscribe. Close ends it; so does ctx.
func (i *Istiod) ConnectProxy(ctx context.Context, id ProxyIdentity) (*XDSClient, error) {
	roots, err := i.servingRoots(ctx)
	if err != nil {
		return nil, err
	}
	tlsConfig := &tls.Config{ServerName: i.ServerName, RootCAs: roots, MinVersion: tls.VersionTLS12}
	if id.Certificate != nil {
		tlsConfig.Certificates = []tls.Certificate{*id.Certificate}
	}
	conn, err := grpc.NewClient(i.SecureGRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		return nil, fmt.Errorf("failed to create a client for istiod at %s: %w", i.SecureGRPCAddr, err)
	}
	streamCtx, cancel := context.WithCancel(ctx)
	if id.Token != "" {
		streamCtx = metadata.AppendToOutgoingContext(streamCtx, "authorization", "Bearer "+id.Token)
	}
	streamCtx = metadata.AppendToOutgoingContext(streamCtx, "ClusterID", i.ClusterID)
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(streamCtx)
	if err != nil {
		cancel()
		_ = conn.Close()
		return nil, fmt.Errorf("failed to open an xDS stream to istiod: %w", err)
	}
	node, err := proxyNode(id, i.ClusterID)
	if err != nil {
		cancel()
		_ = conn.Close()
		return nil, err
	}
	c := &XDSClient{
		conn:          conn,
		stream:        stream,
		cancel:        cancel,
		node:          node,
		done:          make(chan struct{}),
		changed:       make(chan struct{}),
		subscriptions: map[string][]string{},
		resources:     map[string]map[string]*anypb.Any{},
	}
	go c.receive()
	return c, nil
}

// servingRoots are the roots istiod's serving certificate is checked with.
func (i *Istiod) servingRoots(ctx context.Context) (*x509.CertPool, error) {
	rootsPEM := i.cfg.CARootsPEM
	if len(rootsPEM) == 0 {
		var err error
		if rootsPEM, err = i.RootCertPEM(ctx); err != nil {
			return nil, err
		}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootsPEM) {
		return nil, errors.New("no certificate in the CA roots")
	}
	return roots, nil
}

// proxyNode is the node istio-agent sends: an ID of the form
// type~ip~pod.namespace~namespace.svc.cluster.local and the metadata istiod
// reads (pilot/pkg/model.NodeMetadata).
func proxyNode(id ProxyIdentity, clusterID string) (*core.Node, error) {
	labels := map[string]any{}
	for k, v := range id.Labels {
		labels[k] = v
	}
	meta, err := structpb.NewStruct(map[string]any{
		"NAMESPACE":       id.Namespace,
		"SERVICE_ACCOUNT": id.ServiceAccount,
		"CLUSTER_ID":      clusterID,
		"LABELS":          labels,
		"INSTANCE_IPS":    id.IP,
		"WORKLOAD_NAME":   id.PodName,
		// What istio's own xDS client (pkg/adsc) sends: a version newer
		// than any, so istiod generates for its latest proxy.
		"ISTIO_VERSION": "65536.65536.65536",
	})
	if err != nil {
		return nil, fmt.Errorf("failed to build the node metadata: %w", err)
	}
	return &core.Node{
		Id:       fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", id.Type, id.IP, id.PodName, id.Namespace, id.Namespace),
		Metadata: meta,
	}, nil
}

// Subscribe asks for resources of typeURL by name (none: all of them, as
// for listeners), replacing the names asked for before.
func (c *XDSClient) Subscribe(typeURL string, names ...string) error {
	c.mu.Lock()
	c.subscriptions[typeURL] = slices.Clone(names)
	c.mu.Unlock()
	return c.send(&discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names})
}

func (c *XDSClient) send(request *discovery.DiscoveryRequest) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if !c.sentNode {
		request.Node = c.node
		c.sentNode = true
	}
	if err := c.stream.Send(request); err != nil {
		return fmt.Errorf("failed to send an xDS request for %s: %w", request.GetTypeUrl(), err)
	}
	return nil
}

// receive stores each response and acknowledges it, until the stream ends.
func (c *XDSClient) receive() {
	defer close(c.done)
	for {
		response, err := c.stream.Recv()
		if err != nil {
			c.mu.Lock()
			c.err = err
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
		typeURL := response.GetTypeUrl()
		c.mu.Lock()
		names := make([]string, 0, len(response.GetResources()))
		// State of the world: a listener response holds them all; a
		// secret response may hold only those that changed.
		if typeURL == ListenerType || c.resources[typeURL] == nil {
			c.resources[typeURL] = map[string]*anypb.Any{}
		}
		for _, resource := range response.GetResources() {
			name, err := resourceName(resource)
			if err != nil {
				c.err = err
				continue
			}
			names = append(names, name)
			c.resources[typeURL][name] = resource
		}
		c.responses = append(c.responses, XDSResponse{TypeURL: typeURL, Version: response.GetVersionInfo(), Names: names, At: time.Now()})
		subscribed := slices.Clone(c.subscriptions[typeURL])
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		_ = c.send(&discovery.DiscoveryRequest{
			TypeUrl:       typeURL,
			VersionInfo:   response.GetVersionInfo(),
			ResponseNonce: response.GetNonce(),
			ResourceNames: subscribed,
		})
	}
}

// resourceName reads the name of a resource; types without names (one
// resource per response) are stored under "".
func resourceName(resource *anypb.Any) (string, error) {
	message, err := resource.UnmarshalNew()
	if err != nil {
		return "", fmt.Errorf("failed to decode an xDS resource of type %s: %w", resource.GetTypeUrl(), err)
	}
	named, ok := message.(interface{ GetName() string })
	if !ok {
		return "", nil // one resource of its type, as istiod's ProxyConfig
	}
	return named.GetName(), nil
}

// Resources returns the latest resources of typeURL by name.
func (c *XDSClient) Resources(typeURL string) map[string]*anypb.Any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.resources[typeURL])
}

// Responses returns every response received so far, in order.
func (c *XDSClient) Responses() []XDSResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.responses)
}

// Err is why the stream ended, or nil while it is open.
func (c *XDSClient) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// WaitFor calls check after each response until it returns true or an
// error, the stream ends, or ctx ends.
func (c *XDSClient) WaitFor(ctx context.Context, check func(*XDSClient) (bool, error)) error {
	for {
		c.mu.Lock()
		changed, streamErr := c.changed, c.err
		c.mu.Unlock()
		done, err := check(c)
		if err != nil || done {
			return err
		}
		if streamErr != nil {
			return fmt.Errorf("the xDS stream ended: %w", streamErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close ends the stream and waits for its receiver.
func (c *XDSClient) Close() error {
	c.cancel()
	<-c.done
	return c.conn.Close()
}

// Secret returns the latest secret named name, if istiod sent it.
func (c *XDSClient) Secret(name string) (*tlsv3.Secret, error) {
	resource, ok := c.Resources(SecretType)[name]
	if !ok {
		return nil, nil
	}
	secret := &tlsv3.Secret{}
	if err := resource.UnmarshalTo(secret); err != nil {
		return nil, fmt.Errorf("failed to decode secret %s: %w", name, err)
	}
	return secret, nil
}

// TLSFilterChain is what a listener's filter chain terminates TLS with.
type TLSFilterChain struct {
	Listener string
	// ServerNames are the SNI names the chain matches.
	ServerNames []string
	// CertificateSecrets name the SDS secrets holding its certificate and
	// key; ValidationSecret the one with the CA clients are verified
	// against (empty: no client certificate asked for).
	CertificateSecrets []string
	ValidationSecret   string
	RequireClientCert  bool
}

// TLSFilterChains lists the TLS-terminating filter chains of the latest
// listeners.
func (c *XDSClient) TLSFilterChains() ([]TLSFilterChain, error) {
	var out []TLSFilterChain
	resources := c.Resources(ListenerType)
	for _, name := range slices.Sorted(maps.Keys(resources)) {
		listener := &listenerv3.Listener{}
		if err := resources[name].UnmarshalTo(listener); err != nil {
			return nil, fmt.Errorf("failed to decode listener %s: %w", name, err)
		}
		for _, chain := range listener.GetFilterChains() {
			socket := chain.GetTransportSocket()
			if socket == nil || socket.GetTypedConfig() == nil {
				continue
			}
			downstream := &tlsv3.DownstreamTlsContext{}
			if err := socket.GetTypedConfig().UnmarshalTo(downstream); err != nil {
				continue
			}
			common := downstream.GetCommonTlsContext()
			found := TLSFilterChain{
				Listener:          listener.GetName(),
				ServerNames:       chain.GetFilterChainMatch().GetServerNames(),
				RequireClientCert: downstream.GetRequireClientCertificate().GetValue(),
			}
			for _, sds := range common.GetTlsCertificateSdsSecretConfigs() {
				found.CertificateSecrets = append(found.CertificateSecrets, sds.GetName())
			}
			if v := common.GetValidationContextSdsSecretConfig(); v != nil {
				found.ValidationSecret = v.GetName()
			}
			if v := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig(); v != nil {
				found.ValidationSecret = v.GetName()
			}
			out = append(out, found)
		}
	}
	return out, nil
}
