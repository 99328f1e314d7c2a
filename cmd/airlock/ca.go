package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/airlock-rbi/airlock/internal/pki"
)

func runCA(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: airlock ca init|issue [flags]")
		return errUsage
	}
	switch args[0] {
	case "init":
		return runCAInit(args[1:], stdout, stderr)
	case "issue":
		return runCAIssue(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "airlock ca: unknown command %q (init, issue)\n", args[0])
	return errUsage
}

func runCAInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ca init", stderr)
	data := fs.String("data", "./data", "directory of the CA (ca.pem, ca-key.pem)")
	if err := parse(fs, args); err != nil {
		return err
	}
	ca, err := pki.InitCA(caDir(*data))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created CA in %s\nfingerprint %s\n", caDir(*data), ca.Fingerprint())
	return nil
}

func runCAIssue(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ca issue", stderr)
	data := fs.String("data", "./data", "directory given to 'airlock ca init'")
	role := fs.String("role", "", "role of the certificate: infra, admin, provision or agent")
	name := fs.String("name", "", "certificate name: a node's address for provision, a person or service otherwise")
	out := fs.String("out", "", "directory to write ca.pem, cert.pem and key.pem to")
	ttl := fs.Duration("ttl", 0, "lifetime (default by role: admin 8h, infra 24h, agent 1h, provision 72h)")
	var hosts stringList
	fs.Var(&hosts, "host", "extra DNS name or IP address for the certificate (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *role == "" || *name == "" || *out == "" {
		fmt.Fprintln(stderr, "airlock ca issue: --role, --name and --out are required")
		return errUsage
	}
	r, err := pki.ParseRole(*role)
	if err != nil {
		return err
	}
	ca, err := pki.LoadCA(caDir(*data))
	if err != nil {
		return err
	}
	b, err := ca.Issue(pki.IssueRequest{Role: r, Name: *name, Hosts: hosts, TTL: *ttl})
	if err != nil {
		return err
	}
	if err := pki.WriteBundle(*out, b); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "issued %s certificate for %q in %s, valid until %s\n", r, *name, *out, b.Cert.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
	return nil
}

// caDir is where the CA lives in a data directory: at its top, so the
// deployment CA certificate is DIR/ca.pem.
func caDir(data string) string { return filepath.Clean(data) }
