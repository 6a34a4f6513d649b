// Package chart writes the templates of charts/meshcert that must say what
// the code says: the webhook configurations (webhook.Configurations) and the
// RBAC (cluster.PolicyRules, cluster.LeaderElectionRules). They are built
// from the same Go values the server and the e2e stack use, with sentinels
// where the chart templates a value in, and the sentinels are then replaced
// by Helm expressions. chart_test.go keeps the committed templates equal to
// what Templates returns (UPDATE_GOLDEN=1 rewrites them; make golden).
package chart

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshcert/meshcert/cluster"
	"github.com/meshcert/meshcert/webhook"
)

// Sentinels: plain YAML scalars that cannot occur otherwise, none a prefix
// of another.
const (
	sentinelName             = "MESHCERT_SENTINEL_FULLNAME"
	sentinelNamespace        = "MESHCERT_SENTINEL_RELEASE_NS"
	sentinelServiceAccount   = "MESHCERT_SENTINEL_SERVICE_ACCOUNT"
	sentinelValidatingPolicy = "MESHCERT_SENTINEL_VALIDATING_POLICY"
	sentinelClientConfig     = "MESHCERT_SENTINEL_CLIENT_CONFIG"
	sentinelIstiodNamespace  = "MESHCERT_SENTINEL_ISTIOD_NS"
)

const header = "# Code generated from the Go declarations by internal/chart (make golden); DO NOT EDIT.\n"

// Templates returns the generated templates by file name under
// charts/meshcert/templates/.
func Templates() (map[string]string, error) {
	webhooks, err := webhookTemplate()
	if err != nil {
		return nil, err
	}
	rbac, err := rbacTemplate()
	if err != nil {
		return nil, err
	}
	istiod, err := istiodRBACTemplate()
	if err != nil {
		return nil, err
	}
	return map[string]string{"webhooks.yaml": webhooks, "rbac.yaml": rbac, "rbac-istiod.yaml": istiod}, nil
}

func webhookTemplate() (string, error) {
	mutating, validating := webhook.Configurations(webhook.InstallOptions{
		Name:      sentinelName,
		Namespace: sentinelNamespace,
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			url := sentinelClientConfig + path
			return admissionregistrationv1.WebhookClientConfig{URL: &url}
		},
		MutatingFailurePolicy:   admissionregistrationv1.Ignore,
		ValidatingFailurePolicy: sentinelValidatingPolicy,
	})
	docs, err := documents(mutating, validating)
	if err != nil {
		return "", err
	}
	// The client config is a block: the Service or the external URL, and
	// the CA bundle when the user provides it.
	var lines []string
	for line := range strings.SplitSeq(docs, "\n") {
		indent, rest := splitIndent(line)
		if path, ok := strings.CutPrefix(rest, "url: "+sentinelClientConfig); ok {
			// The "clientConfig:" line above holds only this key.
			lines[len(lines)-1] = strings.TrimRight(lines[len(lines)-1], " ")
			lines = append(lines, fmt.Sprintf("%s{{- include \"meshcert.clientConfig\" (list . %q) | nindent %d }}", indent, path, len(indent)))
			continue
		}
		lines = append(lines, line)
	}
	out := strings.Join(lines, "\n")
	out = strings.ReplaceAll(out, "failurePolicy: "+sentinelValidatingPolicy, "failurePolicy: {{ .Values.webhook.validatingFailurePolicy }}")
	out = strings.ReplaceAll(out, "- "+sentinelNamespace, "- {{ .Release.Namespace }}")
	out = metadata(out, true)
	return header + out, nil
}

func rbacTemplate() (string, error) {
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sentinelServiceAccount, Namespace: sentinelNamespace}}
	objects := []any{
		&rbacv1.ClusterRole{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: sentinelName},
			Rules:      cluster.PolicyRules(),
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: sentinelName},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: sentinelName},
			Subjects:   subjects,
		},
		&rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Name: sentinelName + "-leader-election", Namespace: sentinelNamespace},
			Rules:      cluster.LeaderElectionRules(),
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: sentinelName + "-leader-election", Namespace: sentinelNamespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sentinelName + "-leader-election"},
			Subjects:   subjects,
		},
	}
	docs, err := documents(objects...)
	if err != nil {
		return "", err
	}
	return header + rbacSentinels(docs), nil
}

// rbacSentinels templates the names and namespaces into RBAC documents.
func rbacSentinels(docs string) string {
	out := strings.ReplaceAll(docs, sentinelServiceAccount, `{{ include "meshcert.serviceAccountName" . }}`)
	out = metadata(out, false)
	out = strings.ReplaceAll(out, sentinelName, `{{ include "meshcert.fullname" . }}`)
	out = strings.ReplaceAll(out, sentinelNamespace, "{{ .Release.Namespace }}")
	return strings.ReplaceAll(out, sentinelIstiodNamespace, "{{ .Values.istiodNamespace }}")
}

// istiodRBACTemplate is the Role in istiod's namespace, rendered only when
// istiodNamespace is set: that namespace must exist when the chart is
// installed, and without the Role meshcert makes no mesh CA.
func istiodRBACTemplate() (string, error) {
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sentinelServiceAccount, Namespace: sentinelNamespace}}
	docs, err := documents(
		&rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Name: sentinelName + "-istiod", Namespace: sentinelIstiodNamespace},
			Rules:      cluster.IstiodNamespaceRules(),
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: sentinelName + "-istiod", Namespace: sentinelIstiodNamespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sentinelName + "-istiod"},
			Subjects:   subjects,
		},
	)
	if err != nil {
		return "", err
	}
	return header + "{{- if .Values.istiodNamespace }}\n" + rbacSentinels(docs) + "{{- end }}\n", nil
}

// metadata puts the chart's labels (and, for webhook configurations, the
// cainjector annotation) under every object's metadata.name.
func metadata(docs string, webhooks bool) string {
	extra := "\n  labels:\n    {{- include \"meshcert.labels\" . | nindent 4 }}"
	if webhooks {
		extra += "\n  {{- with (include \"meshcert.webhookAnnotations\" .) }}\n  annotations:\n    {{- . | nindent 4 }}\n  {{- end }}"
	}
	// Only metadata.name: roleRef.name has the same indentation.
	for _, suffix := range []string{"", "-leader-election", "-istiod"} {
		docs = strings.ReplaceAll(docs, "metadata:\n  name: "+sentinelName+suffix+"\n", "metadata:\n  name: {{ include \"meshcert.fullname\" . }}"+suffix+extra+"\n")
	}
	return docs
}

// documents marshals objects into one YAML stream.
func documents(objects ...any) (string, error) {
	var b strings.Builder
	for i, obj := range objects {
		data, err := yaml.Marshal(obj)
		if err != nil {
			return "", fmt.Errorf("failed to marshal %T: %w", obj, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		// Helm has no use for the empty creationTimestamp metadata marshals.
		b.WriteString(strings.ReplaceAll(string(data), "  creationTimestamp: null\n", ""))
	}
	return b.String(), nil
}

func splitIndent(line string) (indent, rest string) {
	rest = strings.TrimLeft(line, " ")
	return line[:len(line)-len(rest)], rest
}
