package mddoc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTable(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		rows   [][]string
		want   string
	}{
		{
			name:   "a header and rows make a table",
			header: []string{"a", "b"},
			rows:   [][]string{{"1", "2"}},
			want:   "| a | b |\n|---|---|\n| 1 | 2 |\n",
		},
		{
			name:   "a pipe in a cell is escaped so the row keeps its columns",
			header: []string{"flag"},
			rows:   [][]string{{"a|b"}},
			want:   "| flag |\n|---|\n| a\\|b |\n",
		},
		{
			name:   "a line break in a cell is folded so the row stays one line",
			header: []string{"help"},
			rows:   [][]string{{"one\n  two"}},
			want:   "| help |\n|---|\n| one two |\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Table(tt.header, tt.rows))
		})
	}
}

func TestReplace(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    string
		wantErr string
	}{
		{
			name: "the section between the markers is replaced and the rest kept",
			doc:  "intro\n<!-- t:start -->\nold\n<!-- t:end -->\noutro\n",
			want: "intro\n<!-- t:start -->\nnew\n<!-- t:end -->\noutro\n",
		},
		{
			name:    "a document without the start marker is an error naming it",
			doc:     "intro\n",
			wantErr: "<!-- t:start -->",
		},
		{
			name:    "a document without the end marker is an error naming it",
			doc:     "<!-- t:start -->\nold\n",
			wantErr: "<!-- t:end -->",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replace(tt.doc, "t", "new\n")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestGoldenReportsAStaleSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	require.NoError(t, os.WriteFile(path, []byte("<!-- t:start -->\nold\n<!-- t:end -->\n"), 0o600))
	stale := &testing.T{}
	Golden(stale, path, "t", "new\n")
	assert.True(t, stale.Failed(), "a section unlike the code fails the test")

	t.Setenv("UPDATE_GOLDEN", "1")
	Golden(t, path, "t", "new\n")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "<!-- t:start -->\nnew\n<!-- t:end -->\n", string(data), "UPDATE_GOLDEN rewrites the section")
}
