// The reader's browser and operating system, in words, for a ticket's description
// (only when the person ticks the box on the form; nothing is sent otherwise).

const BROWSERS = [
  // Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
  [/Edg(?:e|A|iOS)?\/([\d.]+)/, "Microsoft Edge"],
  [/OPR\/([\d.]+)/, "Opera"],
  [/SamsungBrowser\/([\d.]+)/, "Samsung Internet"],
  [/Firefox\/([\d.]+)/, "Firefox"],
  [/FxiOS\/([\d.]+)/, "Firefox"],
  [/CriOS\/([\d.]+)/, "Chrome"],
  [/HeadlessChrome\/([\d.]+)/, "Headless Chrome"],
  [/Chrome\/([\d.]+)/, "Chrome"],
  [/Version\/([\d.]+).*Safari\//, "Safari"],
];

const SYSTEMS = [
  [/Windows NT 10\.0/, () => "Windows 10 or 11"],
  [/Windows NT ([\d.]+)/, (v) => `Windows NT ${v}`],
  [/CrOS/, () => "ChromeOS"],
  [/Android ([\d.]+)/, (v) => `Android ${v}`],
  [/(?:iPhone|CPU) OS ([\d_]+)/, (v) => `iOS ${v.replaceAll("_", ".")}`],
  [/iPad.*OS ([\d_]+)/, (v) => `iPadOS ${v.replaceAll("_", ".")}`],
  [/Mac OS X ([\d_.]+)/, (v) => `macOS ${v.replaceAll("_", ".")}`],
  [/Linux/, () => "Linux"],
];

/** {browser, system} from a user-agent string; "unknown" where it says nothing known. */
export function parseUserAgent(ua) {
  let browser = "unknown browser";
  for (const [pattern, name] of BROWSERS) {
    const match = ua.match(pattern);
    if (match) {
      browser = `${name} ${match[1].split(".")[0]}`;
      break;
    }
  }
  let system = "unknown system";
  for (const [pattern, name] of SYSTEMS) {
    const match = ua.match(pattern);
    if (match) {
      system = name(match[1]);
      break;
    }
  }
  return { browser, system };
}

/** The lines the form adds to a description: browser, system, screen and language. */
export function environmentText(nav = navigator, screenInfo = window.screen) {
  const { browser, system } = parseUserAgent(nav.userAgent || "");
  return [
    `Browser: ${browser}`,
    `Operating system: ${system}`,
    `Screen: ${screenInfo.width}×${screenInfo.height}`,
    `Language: ${nav.language || "unknown"}`,
  ].join("\n");
}
