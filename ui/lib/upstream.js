// A server is stored as one URL (socks5h://user:pass@host:port, http(s)://host:port); the
// form edits it as separate fields. These two functions convert between them, losslessly.

export const TYPES = ["socks5", "socks4a", "socks4", "http", "https", "direct"];

/** URL → form fields. Unknown input yields defaults rather than throwing. */
export function parseUpstream(url) {
  const fields = { type: "socks5", host: "127.0.0.1", port: "1080", username: "", password: "", remoteDns: true };
  const match = /^([a-z0-9]+):\/\/(.*)$/i.exec((url ?? "").trim());
  if (!match) return fields;
  const scheme = match[1].toLowerCase();
  let rest = match[2].replace(/\/$/, "");
  if (scheme === "direct") return { ...fields, type: "direct", host: "", port: "" };
  fields.type = scheme === "socks5h" ? "socks5" : scheme;
  fields.remoteDns = scheme !== "socks5" && scheme !== "socks4";
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(":");
    const decode = (s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    };
    fields.username = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
    fields.password = colon >= 0 ? decode(userinfo.slice(colon + 1)) : "";
  }
  const v6 = /^\[([^\]]+)\](?::(\d*))?$/.exec(rest);
  if (v6) {
    fields.host = v6[1];
    fields.port = v6[2] ?? "1080";
  } else {
    const colon = rest.lastIndexOf(":");
    fields.host = colon >= 0 ? rest.slice(0, colon) : rest;
    fields.port = colon >= 0 ? rest.slice(colon + 1) : "1080";
  }
  return fields;
}

/** Form fields → URL. */
export function buildUpstream({ type, host, port, username, password, remoteDns }) {
  if (type === "direct") return "direct://";
  let scheme = type;
  if (type === "socks5") scheme = remoteDns ? "socks5h" : "socks5";
  if (type === "socks4a" && !remoteDns) scheme = "socks4";
  const h = String(host ?? "").trim();
  const hostPart = h.includes(":") && !h.startsWith("[") ? `[${h}]` : h;
  let userinfo = "";
  if (username) {
    userinfo = encodeURIComponent(username);
    if (password && (type === "socks5" || type === "http" || type === "https")) userinfo += `:${encodeURIComponent(password)}`;
    userinfo += "@";
  }
  return `${scheme}://${userinfo}${hostPart}:${String(port ?? "").trim()}`;
}
