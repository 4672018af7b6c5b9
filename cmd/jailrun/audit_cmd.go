package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jailrun/jailrun/audit"
	"github.com/spf13/cobra"
)

// auditFlags are the audit options of every command that runs sandboxes (run, interact, pipe).
type auditFlags struct {
	sinks      []string
	bestEffort bool
	keyFile    string
}

func addAuditFlags(c *cobra.Command, f *auditFlags) {
	fl := c.Flags()
	fl.StringArrayVar(&f.sinks, "audit", nil, "append audit records to `SINK`: a file, 'stderr', 'syslog' or 'journald' (repeatable); a sink that cannot be opened or written fails the run")
	fl.BoolVar(&f.bestEffort, "audit-best-effort", false, "report audit sink failures as warnings instead of failing the run")
	fl.StringVar(&f.keyFile, "audit-key-file", "", "HMAC key for the audit chain, read from `FILE` (then only its holder can rewrite the log consistently)")
}

// open returns the logger for the flags, or nil when no sink was named. Sinks are opened (and a file's last
// record checked) now, before anything runs: a log that cannot be written fails the command with
// exitInput, unless --audit-best-effort.
func (f *auditFlags) open() (*audit.Logger, error) {
	return openAuditSink(f.sinks, f.bestEffort, f.keyFile)
}

// openAuditSink opens the named sinks as one logger. With bestEffort a sink that cannot be opened is
// skipped with a warning and later write failures are warnings too.
func openAuditSink(specs []string, bestEffort bool, keyFile string) (*audit.Logger, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	o := audit.Options{
		BestEffort: bestEffort,
		OnError:    func(err error) { fmt.Fprintf(os.Stderr, "jailrun: warning: audit: %v\n", err) },
	}
	if keyFile != "" {
		key, err := readAuditKey(keyFile)
		if err != nil {
			return nil, err
		}
		o.Key = key
	}
	var sinks []audit.Sink
	for _, spec := range specs {
		s, err := audit.ParseSink(spec, o)
		if err != nil {
			if bestEffort {
				o.OnError(err)
				continue
			}
			for _, s := range sinks {
				s.Close()
			}
			return nil, fail(exitInput, "--audit %s: %v", spec, err)
		}
		sinks = append(sinks, s)
	}
	return audit.New(o, sinks...), nil
}

func readAuditKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fail(exitInput, "audit key: %v", err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < 16 {
		return nil, fail(exitInput, "audit key %s: %d bytes; want at least 16", path, len(b))
	}
	return b, nil
}

func addAuditCmd() {
	auditCmd := &cobra.Command{
		Use:   "audit",
		Short: "Work with jailrun's audit log",
		Long: `jailrun writes one JSON record per event (run.start, channel.open, channel.close, limit.hit,
seccomp.violation, run.end) with --audit, each carrying the hash of the record before it.
See docs/audit.md for the schema.`,
	}
	var keyFile, anchor string
	var asJSON bool
	verifyCmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check an audit log's hash chain and report the first broken record",
		Long: `Check that every record of FILE is complete, matches its own hash, follows the previous record's
seq and names the previous record's hash, from the genesis hash on.

Exit status: 0 the chain is intact; 1 it is broken (the first bad record is named); 122 FILE cannot be
read. A chain cannot show that whole records were cut from its end: save the head hash this command
prints and pass it later with --anchor.`,
		Example: `  jailrun audit verify /var/log/jailrun/audit.log
  jailrun audit verify --anchor 3f2a...e9 --audit-key-file /etc/jailrun/audit.key audit.log`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return verifyAudit(args[0], keyFile, anchor, asJSON)
		},
	}
	verifyCmd.Flags().StringVar(&keyFile, "audit-key-file", "", "the HMAC key the log was written with")
	verifyCmd.Flags().StringVar(&anchor, "anchor", "", "a head `HASH` printed earlier: fail if it is not in the chain (the log was cut or rewritten)")
	verifyCmd.Flags().BoolVar(&asJSON, "json", false, "print the outcome as a JSON object on stdout")
	auditCmd.AddCommand(verifyCmd)
	rootCmd.AddCommand(auditCmd)
}

// verifyOutcome is the --json output of audit verify.
type verifyOutcome struct {
	File    string `json:"file"`
	OK      bool   `json:"ok"`
	Records int    `json:"records"`
	Head    string `json:"head,omitempty"`
	// BrokenRecord is the 1-based line of the first bad record.
	BrokenRecord int    `json:"broken_record,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

func verifyAudit(path, keyFile, anchor string, asJSON bool) error {
	var key []byte
	if keyFile != "" {
		k, err := readAuditKey(keyFile)
		if err != nil {
			return err
		}
		key = k
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(exitInput, "%v", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fail(exitInput, "%s: not a regular file", path)
	}
	res, err := audit.Verify(f, audit.VerifyOptions{Key: key, Anchor: strings.ToLower(anchor)})
	out := verifyOutcome{File: path, OK: err == nil, Records: res.Records, Head: res.Head}
	var be *audit.BreakError
	switch {
	case err == nil:
	case errors.As(err, &be):
		out.BrokenRecord, out.Reason = be.Record, be.Reason
	default:
		return fail(exitInput, "%s: %v", path, err)
	}
	if asJSON {
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
	}
	if be != nil {
		return fail(1, "%s: broken at record %d: %s (records 1-%d verified)", path, be.Record, be.Reason, be.Record-1)
	}
	if !asJSON {
		fmt.Printf("%s: ok: %d records, head %s\n", path, res.Records, orNone(res.Head))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(empty log)"
	}
	return s
}
