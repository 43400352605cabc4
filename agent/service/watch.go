package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// trustWatch watches the directories that hold the trust store. Directories, not files: bundles
// are replaced by renaming a new file over the old one, which a watch on the old file misses.
type trustWatch struct {
	w *fsnotify.Watcher
	// files are paths whose own events count; dirs are directories any of whose entries count.
	files, dirs map[string]bool
	watched     []string
}

// newTrustWatch watches what truststore.Load(ca) reads: the configured file or directory (and
// the targets of symlinks to them), or with ca empty the system bundle files and directories.
// Locations that do not exist are skipped; none at all is an error.
func newTrustWatch(ca string, sysFiles, sysDirs []string) (*trustWatch, error) {
	t := &trustWatch{files: map[string]bool{}, dirs: map[string]bool{}}
	if ca == "" {
		for _, f := range sysFiles {
			t.addFile(f)
		}
		for _, d := range sysDirs {
			t.dirs[filepath.Clean(d)] = true
		}
	} else {
		t.addFile(ca)
		if st, err := os.Stat(ca); err == nil && st.IsDir() {
			t.dirs[filepath.Clean(ca)] = true
			if r, err := filepath.EvalSymlinks(ca); err == nil {
				t.dirs[r] = true
			}
		}
	}
	toWatch := map[string]bool{}
	for f := range t.files {
		toWatch[filepath.Dir(f)] = true
	}
	for d := range t.dirs {
		toWatch[d] = true
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("trust store watcher: %w", err)
	}
	var errs []error
	for d := range toWatch {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		if err := w.Add(d); err != nil {
			errs = append(errs, err)
			continue
		}
		t.watched = append(t.watched, d)
	}
	if len(t.watched) == 0 {
		_ = w.Close()
		errs = append(errs, errors.New("none of the trust store's directories exists"))
		return nil, fmt.Errorf("trust store watcher: %w", errors.Join(errs...))
	}
	slices.Sort(t.watched)
	t.w = w
	return t, nil
}

// addFile adds path and, when it is a symlink, its target: /etc/ssl/cert.pem and friends point
// into another directory, and the change happens there.
func (t *trustWatch) addFile(path string) {
	t.files[filepath.Clean(path)] = true
	if r, err := filepath.EvalSymlinks(path); err == nil {
		t.files[r] = true
	} else if r, err := os.Readlink(path); err == nil {
		// A dangling link: watch where its target would appear.
		if !filepath.IsAbs(r) {
			r = filepath.Join(filepath.Dir(path), r)
		}
		t.files[filepath.Clean(r)] = true
	}
}

func (t *trustWatch) relevant(name string) bool {
	name = filepath.Clean(name)
	return t.files[name] || t.dirs[name] || t.dirs[filepath.Dir(name)]
}

func (t *trustWatch) close() error { return t.w.Close() }

// run reports a change once the trust store has been quiet for debounce, until ctx ends.
func (t *trustWatch) run(ctx context.Context, debounce time.Duration, changed func(what string)) {
	defer t.close()
	var timer *time.Timer
	var fire <-chan time.Time
	first := ""
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-t.w.Events:
			if !ok {
				return
			}
			if !t.relevant(ev.Name) {
				continue
			}
			if fire == nil {
				first = ev.Name
			}
			if timer == nil {
				timer = time.NewTimer(debounce)
			} else {
				timer.Reset(debounce)
			}
			fire = timer.C
		case _, ok := <-t.w.Errors:
			if !ok {
				return
			}
			// An overflow loses events: assume a change rather than miss one.
			if fire == nil {
				first = "(watch queue overflow)"
			}
			if timer == nil {
				timer = time.NewTimer(debounce)
			} else {
				timer.Reset(debounce)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			changed(first)
		}
	}
}
