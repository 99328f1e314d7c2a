package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"

	"github.com/airlock-rbi/airlock/internal/apiclient"
	"github.com/airlock-rbi/airlock/internal/devtools"
	"github.com/airlock-rbi/airlock/internal/files"
)

// maxTransfer bounds AIRLOCK_DOWNLOAD_MAX and AIRLOCK_UPLOAD_MAX: a file
// of 64 GiB through a viewer is a mistake, not a setting.
const maxTransfer = 64 << 30

// Limit checks an AIRLOCK_DOWNLOAD_MAX or AIRLOCK_UPLOAD_MAX value: bytes,
// 0 or unset meaning off.
func Limit(name, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxTransfer {
		return 0, fmt.Errorf("%s %q: want a number of bytes from 0 (off) to %d", name, v, int64(maxTransfer))
	}
	return n, nil
}

// newFiles makes the session's file transfers, audited through the api.
func (a *Agent) newFiles(ctx context.Context, cfg DesktopConfig) (*files.Service, error) {
	return files.New(ctx, files.Config{
		DownloadMax: cfg.DownloadMax, UploadMax: cfg.UploadMax,
		Audit: a.auditTransfer, Log: a.log.With("component", "files"),
	})
}

// auditTransfer asks the api to record a transfer; the transfer waits
// for the answer and does not happen without it.
func (a *Agent) auditTransfer(ctx context.Context, t files.Transfer) error {
	cred := a.cred.Load()
	if cred == nil {
		return errors.New("not registered yet")
	}
	return refused(a.api.ReportTransfer(ctx, *cred, apiclient.Transfer(t)))
}

// devtoolsArgs has Chromium speak the DevTools protocol on fds 3 and 4
// (devtoolsPipe), which no page and no other process can reach, unlike
// a --remote-debugging-port.
func devtoolsArgs() []string { return []string{"--remote-debugging-pipe"} }

// devtoolsPipe gives cmd the DevTools pipes as its fds 3 and 4.
func devtoolsPipe(cmd *exec.Cmd) (*devtools.Pipes, error) {
	p, err := devtools.NewPipes()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = p.ExtraFiles()
	return p, nil
}

// connectDevtools talks to the Chromium just started on pipes and hands
// it to the file transfers, until the returned stop is called (Chromium
// exited). A failure here costs the session its downloads and file
// chooser, not its display: it is logged.
func (a *Agent) connectDevtools(ctx context.Context, pipes *devtools.Pipes, transfers *files.Service) (stop func()) {
	pipes.Started()
	ctx, cancel := context.WithCancel(ctx)
	conn := pipes.Conn()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := conn.Run(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
			a.log.Warn("devtools connection ended", "err", err)
		}
	}()
	go func() {
		if err := transfers.Browser(ctx, conn); err != nil && ctx.Err() == nil {
			a.log.Warn("devtools: no downloads or file chooser for this browser", "err", err)
		}
	}()
	return func() {
		cancel()
		pipes.Close()
		<-done
	}
}
