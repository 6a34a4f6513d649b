package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/manifest"
)

// writeGitHub prints one workflow command per finding, which GitHub Actions
// turns into an annotation on the file and line:
//
//	::error title=MC2002 Gateway team-a/web,file=gw.yaml,line=12,col=7::spec.servers[0].tls: ...
//
// Properties come in the order, and are escaped the way, the Actions
// toolkit (@actions/core) writes them, so the runner reads them the same.
func writeGitHub(w io.Writer, r *Report) error {
	for _, f := range r.Findings {
		props := []string{"title=" + escapeProperty(string(f.Code)+" "+f.Object.String())}
		if f.File != "" && f.File != manifest.StdinName {
			file := f.File
			if !filepath.IsAbs(file) {
				// GitHub places annotations by the path from the checkout's root.
				file = cleanPath(file)
			}
			props = append(props, "file="+escapeProperty(file))
			if f.Line > 0 {
				props = append(props, "line="+strconv.Itoa(f.Line))
			}
			if f.Column > 0 {
				props = append(props, "col="+strconv.Itoa(f.Column))
			}
		}
		line := "::" + githubCommand(f.Severity) + " " + strings.Join(props, ",") + "::" + escapeData(fieldMessage(f)) + "\n"
		if _, err := io.WriteString(w, line); err != nil {
			return fmt.Errorf("failed to write annotations: %w", err)
		}
	}
	return nil
}

func githubCommand(s finding.Severity) string {
	switch s {
	case finding.SeverityError:
		return "error"
	case finding.SeverityWarning:
		return "warning"
	default:
		return "notice"
	}
}

// escapeData escapes a command's message as @actions/core does.
var escapeData = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace

// escapeProperty escapes a command's property value as @actions/core does.
var escapeProperty = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace
