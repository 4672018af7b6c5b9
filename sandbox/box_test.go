//go:build linux && cgo

package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// Files in and out through Request in one call: the program reads what was copied in, writes outputs, and
// plants what a hostile program would; only plain files come back.
func TestRequestFilesInAndOut(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	host := filepath.Join(t.TempDir(), "from-host.txt")
	if err := os.WriteFile(host, []byte("host bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := r.Run(context.Background(), sandbox.Request{
		Policy: strict,
		Argv: []string{"/bin/sh", "-c", `set -e
			cat in.txt sub/dir/from-host.txt
			test -x run.sh && ./run.sh
			echo appended >> in.txt
			echo result > out.txt
			ln -s /etc/passwd link
			mkfifo fifo
			head -c 2000 /dev/zero > big`},
		Stdout: &out,
		FilesIn: []sandbox.FileIn{
			{Path: "in.txt", Content: []byte("inline bytes\n")},
			{Path: "sub/dir/from-host.txt", Src: host},
			{Path: "run.sh", Content: []byte("#!/bin/sh\necho script ran\n"), Mode: 0o755},
		},
		FilesOut: []string{"out.txt", "in.txt", "link", "fifo", "missing", "big"},
		FileCaps: sandbox.FileCaps{FileBytes: 1000},
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Status != sandbox.StatusOK || out.String() != "inline bytes\nhost bytes\nscript ran\n" {
		t.Fatalf("status %s, stdout %q", res.Status, out.String())
	}
	if res.FilesIn == nil || res.FilesIn.Count != 3 {
		t.Errorf("files_in = %+v, want 3 files", res.FilesIn)
	}
	if len(res.FilesOut) != 6 {
		t.Fatalf("files_out: %+v", res.FilesOut)
	}
	want := []struct {
		content string
		err     error
	}{{"result\n", nil}, {"inline bytes\nappended\n", nil}, {"", sandbox.ErrUnsafeFile}, {"", sandbox.ErrUnsafeFile}, {"", fs.ErrNotExist}, {"", sandbox.ErrFileTooLarge}}
	for i, w := range want {
		f := res.FilesOut[i]
		if w.err != nil {
			if !errors.Is(f.Err, w.err) || f.Error == "" || f.Content != nil {
				t.Errorf("%s: err %v (%q), want %v", f.Path, f.Err, f.Error, w.err)
			}
			continue
		}
		if f.Err != nil || string(f.Content) != w.content || f.Size != int64(len(w.content)) || len(f.SHA256) != 64 {
			t.Errorf("%s: %+v, want content %q", f.Path, f, w.content)
		}
	}
}

// Bad file requests are refused before anything starts, with typed errors.
func TestRequestFilesRefused(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	for _, tc := range []struct {
		name string
		req  sandbox.Request
		want []error
	}{
		{"escape", sandbox.Request{FilesIn: []sandbox.FileIn{{Path: "../etc/x"}}}, []error{sandbox.ErrFiles, sandbox.ErrArgument}},
		{"absolute", sandbox.Request{FilesOut: []string{"/etc/passwd"}}, []error{sandbox.ErrFiles, sandbox.ErrArgument}},
		{"over the file cap", sandbox.Request{FilesIn: []sandbox.FileIn{{Path: "a", Content: make([]byte, 11)}}, FileCaps: sandbox.FileCaps{FileBytes: 10}}, []error{sandbox.ErrFiles, sandbox.ErrFileTooLarge}},
		{"over the total cap", sandbox.Request{FilesIn: []sandbox.FileIn{{Path: "a", Content: make([]byte, 6)}, {Path: "b", Content: make([]byte, 6)}}, FileCaps: sandbox.FileCaps{TotalBytes: 10}}, []error{sandbox.ErrFileTooLarge}},
		{"over the count", sandbox.Request{FilesOut: []string{"a", "b"}, FileCaps: sandbox.FileCaps{Count: 1}}, []error{sandbox.ErrFiles}},
		{"over the box tmpfs", sandbox.Request{FilesIn: []sandbox.FileIn{{Path: "a", Content: make([]byte, 65<<20)}}, FileCaps: sandbox.FileCaps{FileBytes: 128 << 20}}, []error{sandbox.ErrFileTooLarge}},
		{"twice", sandbox.Request{FilesIn: []sandbox.FileIn{{Path: "a"}, {Path: "./a"}}}, []error{sandbox.ErrFiles}},
		{"missing host source", sandbox.Request{FilesIn: []sandbox.FileIn{{Path: "a", Src: "/nonexistent/x"}}}, []error{fs.ErrNotExist}},
		{"setuid mode", sandbox.Request{FilesIn: []sandbox.FileIn{{Path: "a", Mode: 0o4755}}}, []error{sandbox.ErrFiles}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.Policy, req.Argv = strict, []string{"/bin/true"}
			res, err := r.Run(context.Background(), req)
			if res != nil || err == nil {
				t.Fatalf("got %v, %v; want a refusal", res, err)
			}
			for _, w := range append(tc.want, sandbox.ErrPolicy) {
				if !errors.Is(err, w) {
					t.Errorf("error %q is not %v", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	// A policy whose working directory is not on a writable tmpfs has no box.
	pf := filepath.Join(t.TempDir(), "nobox.json")
	if err := os.WriteFile(pf, []byte(`{"version": 1, "name": "nobox", "extends": "strict", "filesystem": {"workdir": "/usr"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	noBox, err := policy.Load(pf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(context.Background(), sandbox.Request{Policy: noBox, Argv: []string{"/bin/true"}, FilesOut: []string{"a"}}); !errors.Is(err, sandbox.ErrFiles) || !strings.Contains(err.Error(), "writable tmpfs") {
		t.Errorf("no box: %v, want ErrFiles naming the writable tmpfs", err)
	}
}

// The box's tmpfs bounds what is copied in, like what the program writes: a file that does not fit fails
// the run's setup with ErrFileTooLarge and nothing runs.
func TestRequestFilesFillTheBox(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	pf := filepath.Join(t.TempDir(), "smallbox.json")
	if err := os.WriteFile(pf, []byte(`{"version": 1, "name": "smallbox", "extends": "strict",
		"filesystem": {"mounts": [{"type": "tmpfs", "dst": "/tmp", "size": "64K", "mode": "1777"}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	small, err := policy.Load(pf)
	if err != nil {
		t.Fatal(err)
	}
	_ = strict
	// 64 KiB are 16 pages: 17 one-byte files are 17 bytes, under every byte cap, and still do not fit.
	var in []sandbox.FileIn
	for i := range 17 {
		in = append(in, sandbox.FileIn{Path: fmt.Sprintf("f%d", i), Content: []byte{'x'}})
	}
	res, err := r.Run(context.Background(), sandbox.Request{Policy: small, Argv: []string{"/bin/true"}, FilesIn: in})
	if err == nil || !errors.Is(err, sandbox.ErrFileTooLarge) {
		t.Fatalf("got %v, %v; want ErrFileTooLarge", res, err)
	}
}
