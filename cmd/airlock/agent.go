package main

import (
	"context"
	"errors"
	"io"
	stdlog "log"
	"log/slog"
	"os"

	"github.com/jezek/xgb"

	"github.com/airlock-rbi/airlock/internal/agent"
)

// runAgent is the entrypoint of workspace images: it registers the
// session with the api, keeps heartbeating and, as PID 1, reaps orphans.
// With AIRLOCK_DESKTOP set (by the image) it also runs the display and
// the app and streams them to the session's viewer.
// SIGTERM (the context) ends it cleanly with status 0.
func runAgent(ctx context.Context, args []string, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("agent", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	// Before the token is read: nothing of this process may be readable
	// by the app that shares its uid.
	if err := agent.Harden(); err != nil {
		return err
	}
	// xgb logs through a package logger; its notes ("no .Xauthority,
	// trying without") are expected in a container and only noise in the
	// session's log. Its errors reach the agent as errors anyway.
	xgb.Logger = stdlog.New(io.Discard, "", 0)
	kids := agent.NewChildren()
	var desk *agent.DesktopConfig
	if app := os.Getenv(agent.EnvDesktop); app != "" {
		desk = &agent.DesktopConfig{App: app, StartURL: os.Getenv(agent.EnvStartURL), KeptHome: os.Getenv(agent.EnvKeptHome),
			Codec: os.Getenv(agent.EnvCodec), Clipboard: os.Getenv(agent.EnvClip)}
		mode, err := agent.Mode(os.Getenv(agent.EnvMode))
		if err != nil {
			return err
		}
		desk.Mode = mode
		if desk.DownloadMax, err = agent.Limit(agent.EnvDownloadMax, os.Getenv(agent.EnvDownloadMax)); err != nil {
			return err
		}
		if desk.UploadMax, err = agent.Limit(agent.EnvUploadMax, os.Getenv(agent.EnvUploadMax)); err != nil {
			return err
		}
		if desk.Scale, err = agent.Scale(os.Getenv(agent.EnvScale)); err != nil {
			return err
		}
		if desk.Policy, err = agent.ChromiumPolicy(os.Getenv(agent.EnvPolicy)); err != nil {
			return err
		}
		if desk.Locale, err = agent.Locale(os.Getenv(agent.EnvLocale)); err != nil {
			return err
		}
		if desk.TimeZone, err = agent.TimeZone(os.Getenv(agent.EnvTimeZone)); err != nil {
			return err
		}
		if desk.Audio, err = agent.AudioOn(os.Getenv(agent.EnvAudio)); err != nil {
			return err
		}
		if v := os.Getenv(agent.EnvProxy); v != "" {
			// A session meant to be hardened must not run unproxied.
			p, err := agent.ProxyServer(v)
			if err != nil {
				return err
			}
			desk.Proxy = p
		}
	}
	a, err := agent.New(agent.Config{
		Desktop:       desk,
		Children:      kids,
		Server:        os.Getenv(agent.EnvServer),
		Session:       os.Getenv(agent.EnvSession),
		RegisterToken: os.Getenv(agent.EnvToken),
		CAPEM:         []byte(os.Getenv(agent.EnvCA)),
		Logger:        log.With("component", "agent", "session", os.Getenv(agent.EnvSession)),
	})
	if err != nil {
		return err
	}
	// The token is a secret of this process alone; children must not see it.
	os.Unsetenv(agent.EnvToken)
	// The reaper outlives ctx: stopping, the agent waits for the app's
	// processes to be gone, and the orphans among them are gone only
	// once reaped.
	reapCtx, stopReaping := context.WithCancel(context.Background())
	defer stopReaping()
	go agent.Reap(reapCtx, kids)
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("agent stopped")
	return nil
}
