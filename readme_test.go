package readme_test

// The README's shell blocks are what a newcomer pastes, so they are run here and cannot drift.
// A block marked <!-- tested: NAME --> just above its ```sh fence is run by the test for NAME;
// every other sh block must say why it is not run (<!-- not tested: REASON -->).

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

var (
	testedMark   = regexp.MustCompile(`^<!-- tested: ([a-z0-9-]+) -->$`)
	untestedMark = regexp.MustCompile(`^<!-- not tested: .+ -->$`)
)

// shBlocks returns the README's tested sh blocks by name, and the opening lines of sh blocks
// that carry no marker.
func shBlocks(t *testing.T) (tested map[string]string, unmarked []int) {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tested = map[string]string{}
	var prev, name string
	var body strings.Builder
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case in && line == "```":
			in = false
			if name != "" {
				if _, dup := tested[name]; dup {
					t.Errorf("README.md:%d: a second block is marked tested: %s", n, name)
				}
				tested[name] = body.String()
			}
		case in:
			if name != "" {
				body.WriteString(line + "\n")
			}
		case strings.HasPrefix(line, "```"):
			in = true
			name = ""
			body.Reset()
			if line != "```sh" {
				break
			}
			if m := testedMark.FindStringSubmatch(prev); m != nil {
				name = m[1]
			} else if !untestedMark.MatchString(prev) {
				unmarked = append(unmarked, n)
			}
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tested, unmarked
}

// runners are the tests for each tested block.
var runners = map[string]func(*testing.T, string){
	"helper-alone": runHelperAlone,
	"image-login":  runByNspawn,
}

func TestReadmeShellBlocksAreRunOrSayWhyNot(t *testing.T) {
	tested, unmarked := shBlocks(t)
	for _, n := range unmarked {
		t.Errorf("README.md:%d: sh block without <!-- tested: NAME --> or <!-- not tested: REASON --> above it", n)
	}
	for name := range runners {
		if _, ok := tested[name]; !ok {
			t.Errorf("no README block is marked <!-- tested: %s -->", name)
		}
	}
	for name := range tested {
		if _, ok := runners[name]; !ok {
			t.Errorf("README block %s is marked tested, but no test runs it", name)
		}
	}
}

func TestReadmeBlocks(t *testing.T) {
	tested, _ := shBlocks(t)
	for name, run := range runners {
		block, ok := tested[name]
		if !ok {
			continue // TestReadmeShellBlocksAreRunOrSayWhyNot says so
		}
		t.Run(name, func(t *testing.T) { run(t, block) })
	}
}
