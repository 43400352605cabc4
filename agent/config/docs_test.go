package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The example file and the reference page are kept in step with Default by
// these tests, so adding a key without documenting it fails here.
const (
	examplePath = "../../packaging/config.toml"
	docsPath    = "../../docs/config.md"
)

// allKeys lists every leaf key of Config as "table.key", from its toml tags.
func allKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration{}) {
			out = append(out, allKeys(f.Type, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}

// settingLine matches a commented-out setting ("#key = value") or table
// ("#[table]"); prose comments start with "# ".
var settingLine = regexp.MustCompile(`^#([a-z_]+ = |\[)`)

func TestExampleFileIsDefault(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("example-as-shipped-is-default", func(t *testing.T) {
		got, err := Parse(data, examplePath)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if diff := cmp.Diff(Default(), got); diff != "" {
			t.Errorf("example (-want +got):\n%s", diff)
		}
	})
	t.Run("example-uncommented-is-default", func(t *testing.T) {
		lines := strings.Split(string(data), "\n")
		set := map[string]bool{}
		table := ""
		for i, l := range lines {
			if strings.HasPrefix(l, "[") {
				table = strings.Trim(l, "[]") + "."
			}
			if settingLine.MatchString(l) {
				lines[i] = l[1:]
				key, _, _ := strings.Cut(lines[i], " ")
				set[table+key] = true
			}
		}
		got, err := Parse([]byte(strings.Join(lines, "\n")), examplePath)
		if err != nil {
			t.Fatalf("Parse uncommented example: %v", err)
		}
		if diff := cmp.Diff(Default(), got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("uncommented example (-want +got):\n%s", diff)
		}
		for _, k := range allKeys(reflect.TypeOf(Config{}), "") {
			if !set[k] {
				t.Errorf("key %q has no commented-out line in %s", k, examplePath)
			}
		}
	})
}

func TestDocsNameEveryKey(t *testing.T) {
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	docs := string(data)
	for _, k := range allKeys(reflect.TypeOf(Config{}), "") {
		table, key := "", k
		if i := strings.LastIndex(k, "."); i >= 0 {
			table, key = k[:i], k[i+1:]
		}
		if table != "" && !strings.Contains(docs, "### `["+table+"]`") {
			t.Errorf("%s has no section for table [%s]", docsPath, table)
		}
		if !strings.Contains(docs, "| `"+key+"` |") {
			t.Errorf("%s has no table row for key %q", docsPath, k)
		}
	}
}

const manPath = "../../docs/man/eic-agent.toml.5"

// TestManPageNamesEveryKey: eic-agent.toml(5) has a subsection per table (".Ss [table]: ...",
// top-level keys under ".Ss Top level") with an ".It Cm key" entry for each of its keys.
func TestManPageNamesEveryKey(t *testing.T) {
	data, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{} // table ("" for top level) -> its subsection's text
	for _, part := range strings.Split(string(data), "\n.Ss ")[1:] {
		title, body, _ := strings.Cut(part, "\n")
		table := ""
		if strings.HasPrefix(title, "[") {
			table, _, _ = strings.Cut(title[1:], "]")
		}
		sections[table] += body
	}
	for _, k := range allKeys(reflect.TypeOf(Config{}), "") {
		table, key := "", k
		if i := strings.LastIndex(k, "."); i >= 0 {
			table, key = k[:i], k[i+1:]
		}
		body, ok := sections[table]
		if !ok {
			t.Errorf("%s has no subsection for table [%s]", manPath, table)
			continue
		}
		if !strings.Contains(body, "\n.It Cm "+key+" ") {
			t.Errorf("%s has no .It Cm entry for key %q under its table", manPath, k)
		}
	}
}
