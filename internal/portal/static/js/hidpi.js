// HiDPI: the viewer asks for a remote display in device pixels (its CSS
// size times the pixel ratio both sides agree on) and shows the video at
// its CSS size, so that each remote pixel is one pixel of the user's
// screen and text is as sharp as in a local browser. The remote browser
// draws at the session's scale (the agent's hello says it); the ratio is
// the smaller of that and this screen's devicePixelRatio, and never
// below 1 (a zoomed-out tab: the display stays at its CSS size).
//
// This module touches no DOM, so it can be tested in node.

// The display sizes the agent accepts.
export const MIN_W = 320;
export const MIN_H = 240;
export const MAX_W = 3840;
export const MAX_H = 2160;

// pixelRatio is device pixels per CSS pixel for the remote display.
export function pixelRatio(dpr, scale) {
  const d = Number.isFinite(dpr) && dpr > 0 ? dpr : 1;
  const s = Number.isFinite(scale) && scale > 0 ? scale : 1;
  return Math.max(1, Math.min(d, s));
}

const even = (n) => n - (n % 2);
const clamp = (n, lo, hi) => Math.min(Math.max(n, lo), hi);

// displaySize is the remote display to ask for a viewer of cssW×cssH CSS
// pixels: even sizes within what the agent accepts.
export function displaySize(cssW, cssH, dpr, scale) {
  // A tab too large for the limits in device pixels gets a smaller ratio
  // rather than a display of another shape, which would be letterboxed.
  const r = Math.max(1, Math.min(pixelRatio(dpr, scale), MAX_W / cssW, MAX_H / cssH));
  return {
    w: even(clamp(Math.round(cssW * r), MIN_W, MAX_W)),
    h: even(clamp(Math.round(cssH * r), MIN_H, MAX_H)),
  };
}

// helloScale is the scale an agent's hello gives, 1 when it gives none
// or one out of range.
export function helloScale(v) {
  return typeof v === 'number' && v >= 1 && v <= 4 ? v : 1;
}

// cursorStyle is the CSS cursor for a remote cursor image (base64 PNG,
// hotspot x, y in remote pixels) over a video shown at ratio remote
// pixels per CSS pixel: image-set draws it at the picture's scale, as
// the remote browser drew it, instead of ratio times larger. The
// hotspot is in CSS pixels of the image as shown.
export function cursorStyle(png, x, y, ratio) {
  const url = `url("data:image/png;base64,${png}")`;
  if (!(ratio > 1)) return `${url} ${x} ${y}, default`;
  const css = (n) => Math.round((n / ratio) * 100) / 100;
  return `image-set(${url} ${ratio}x) ${css(x)} ${css(y)}, default`;
}
