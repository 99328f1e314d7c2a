package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/cli"
)

// errChainBroken: the verdict is printed; the exit status says it too.
var errChainBroken = errors.New("the audit chain is broken")

func runAudit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: airlock audit ls|export|verify")
		return errUsage
	}
	switch args[0] {
	case "ls":
		fs := newFlags("audit ls", stderr)
		var f cli.AuditFlags
		f.Register(fs, true)
		asJSON := fs.String("o", "", "json: the events as the api answers")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		q, err := f.Query(time.Now())
		if err != nil {
			return err
		}
		c, _, err := apiClient()
		if err != nil {
			return err
		}
		var page struct {
			Events     []airlock.AuditLine `json:"events"`
			NextBefore int64               `json:"next_before"`
		}
		if err := c.Do(ctx, http.MethodGet, "/api/v1/audit?"+q, nil, &page); err != nil {
			return err
		}
		if *asJSON == "json" {
			return printJSON(stdout, page)
		}
		var rows [][]string
		for _, e := range page.Events {
			rows = append(rows, []string{strconv.FormatInt(e.ID, 10), e.Time, e.Actor, e.Action, e.Target, e.Outcome, e.Client, oneLine(e.Detail)})
		}
		table(stdout, "ID\tTIME\tACTOR\tACTION\tTARGET\tOUTCOME\tCLIENT\tDETAIL", rows)
		if page.NextBefore != 0 {
			fmt.Fprintf(stderr, "older events: add --before %d\n", page.NextBefore)
		}
		return nil
	case "export":
		fs := newFlags("audit export", stderr)
		var f cli.AuditFlags
		f.Register(fs, false)
		out := fs.String("out", "-", "file to write the JSON lines to (default standard output)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		q, err := f.Query(time.Now())
		if err != nil {
			return err
		}
		c, _, err := apiClient()
		if err != nil {
			return err
		}
		w := stdout
		if *out != "-" {
			file, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			defer file.Close()
			w = file
		}
		if err := c.Stream(ctx, "/api/v1/audit/export?"+q, w); err != nil {
			return err
		}
		if f, ok := w.(*os.File); ok && f != os.Stdout {
			return f.Close()
		}
		return nil
	case "verify":
		fs := newFlags("audit verify", stderr)
		file := fs.String("file", "", "check this export offline, without the server (- for standard input)")
		partial := fs.Bool("partial", false, "with --file: the export is filtered or starts midway; check each record and the links between consecutive IDs")
		asJSON := fs.String("o", "", "json: the verdict as JSON")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		var v *airlock.AuditVerification
		if *file != "" {
			var err error
			if v, err = cli.VerifyAuditFile(*file, stdin, *partial); err != nil {
				return err
			}
		} else {
			if *partial {
				fmt.Fprintln(stderr, "airlock audit verify: --partial goes with --file")
				return errUsage
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			v = &airlock.AuditVerification{}
			if err := c.Do(ctx, http.MethodPost, "/api/v1/audit/verify", struct{}{}, v); err != nil {
				return err
			}
		}
		if *asJSON == "json" {
			if err := printJSON(stdout, v); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(stdout, cli.DescribeVerification(v))
		}
		if !v.OK() {
			return errChainBroken
		}
		return nil
	}
	fmt.Fprintf(stderr, "airlock audit: unknown command %q (ls, export, verify)\n", args[0])
	return errUsage
}

// oneLine keeps a table row on one line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:77], "") + "..."
	}
	return s
}
