package readme_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// imageLoginTest is the file whose test boots a container and pastes the image-login block:
// it needs root and systemd-nspawn, so it runs under `make nspawn`, not here.
const imageLoginTest = "agent/testenv/nspawn/image_test.go"

// runByNspawn checks what can be checked without booting: the block parses as bash, and the
// nspawn test that runs it still reads this block.
func runByNspawn(t *testing.T, block string) {
	if out, err := exec.Command("bash", "-n", "-c", block).CombinedOutput(); err != nil {
		t.Errorf("the block is not valid bash: %v\n%s", err, out)
	}
	src, err := os.ReadFile(imageLoginTest)
	if err != nil {
		t.Fatalf("the image-login block is run by %s: %v", imageLoginTest, err)
	}
	if !strings.Contains(string(src), `"<!-- tested: image-login -->"`) {
		t.Errorf("%s no longer reads the block marked image-login", imageLoginTest)
	}
}
