package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// A policy with a command template takes only its parameters through the library too: an argv of the
// caller's choosing is refused with a typed error before anything runs, by Runner, Pool, Interact and
// Pipeline alike.
func TestTemplateRefusesArgv(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	s := strict.Clone()
	s.Name = "tmpl"
	s.Command = policy.Command{
		Template:        []string{"/usr/bin/echo", "{w}"},
		Params:          map[string]policy.Param{"w": {Type: policy.ParamWord}},
		AllowedCommands: []string{"/usr/bin/echo"},
	}
	ctx := context.Background()
	pool, err := r.NewPool(s, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	runs := map[string]func(req sandbox.Request) error{
		"runner": func(req sandbox.Request) error { _, err := r.Run(ctx, req); return err },
		"pool":   func(req sandbox.Request) error { _, err := pool.Run(ctx, req); return err },
		"pipeline": func(req sandbox.Request) error {
			_, err := sandbox.Pipeline(ctx, r, []sandbox.Request{req, {Policy: strict, Argv: []string{"/bin/cat"}}}, sandbox.PipelineOptions{})
			return err
		},
		"interact": func(req sandbox.Request) error {
			_, err := sandbox.Interact(ctx, r, req, sandbox.Request{Policy: strict, Argv: []string{"/bin/cat"}}, sandbox.InteractOptions{})
			return err
		},
	}
	for name, run := range runs {
		for _, argv := range [][]string{{"/bin/sh", "-c", "id"}, {"/usr/bin/echo", "-e", `\x41`}} {
			var out bytes.Buffer
			req := sandbox.Request{Policy: s, Argv: argv, Stdout: &out}
			if name == "pipeline" || name == "interact" {
				req.Stdout = nil // wired by the call itself
			}
			err := run(req)
			var ae *sandbox.ArgError
			if !errors.As(err, &ae) || !errors.Is(err, sandbox.ErrArgument) || !errors.Is(err, sandbox.ErrPolicy) || out.Len() != 0 {
				t.Errorf("%s: argv %q under a template: want an *ArgError, got %v (output %q)", name, argv, err, out.String())
			}
		}
	}
	var out bytes.Buffer
	res, err := r.Run(ctx, sandbox.Request{Policy: s, Params: map[string]string{"w": "hello"}, Stdout: &out})
	if err != nil || res.Status != sandbox.StatusOK || out.String() != "hello\n" {
		t.Fatalf("params: %v %+v %q", err, res, out.String())
	}
	if _, err := r.Run(ctx, sandbox.Request{Policy: s, Params: map[string]string{"w": "-e"}}); !errors.Is(err, sandbox.ErrArgument) {
		t.Errorf("a dash value: want ErrArgument, got %v", err)
	}
	if _, err := r.Run(ctx, sandbox.Request{Policy: strict, Argv: []string{"/bin/true"}, Params: map[string]string{"w": "x"}}); !errors.Is(err, sandbox.ErrArgument) {
		t.Errorf("params without a template: want ErrArgument, got %v", err)
	}
}
