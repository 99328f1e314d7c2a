package sessions

import (
	"fmt"
	"strconv"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// browserEnv is the agent's environment for the browser options of a
// session of ws launched by viewer: the mode, the complete Chromium
// policy, the locale, time zone and scale, the transfer limits and
// audio (see the agent's readers of each). A locale or time zone that
// neither the workspace nor the viewer gives is left unset: the agent's
// default (en-US, UTC).
func browserEnv(ws *airlock.Workspace, viewer airlock.Viewer) ([]string, error) {
	policy, err := airlock.ChromiumPolicyJSON(ws.Browser, ws.Audio)
	if err != nil {
		return nil, fmt.Errorf("browser policy of workspace %s: %w", ws.Name, err)
	}
	locale, timeZone, scale := airlock.SessionDisplay(ws, viewer)
	env := []string{
		"AIRLOCK_MODE=" + string(ws.Mode.OrDefault()),
		"AIRLOCK_CHROMIUM_POLICY=" + string(policy),
		"AIRLOCK_SCALE=" + strconv.FormatFloat(scale, 'f', -1, 64),
		"AIRLOCK_DOWNLOAD_MAX=" + strconv.FormatInt(ws.Browser.Downloads.Limit(), 10),
		"AIRLOCK_UPLOAD_MAX=" + strconv.FormatInt(ws.Browser.Uploads.Limit(), 10),
		"AIRLOCK_AUDIO=" + string(ws.Audio.OrDefault()),
	}
	if locale != "" {
		env = append(env, "AIRLOCK_LOCALE="+locale)
	}
	if timeZone != "" {
		env = append(env, "AIRLOCK_TIMEZONE="+timeZone)
	}
	return env, nil
}
