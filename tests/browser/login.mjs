// Signs in through phiguard's HTML pages with Debian's headless Chromium:
// a protected page sends the browser to the sign-in form; the password step
// of a user with no second factor yet shows the enrollment page; the key
// shown there gives a TOTP code (from oathtool); activation signs in and
// returns to the protected page. Saves a screenshot, checks the session
// cookie's attributes, prints one JSON line with what it saw.
//
// node login.mjs BASE_URL USERNAME PASSWORD OUTPUT_DIR
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

const [base, username, password, outDir] = process.argv.slice(2);
const fail = (msg) => {
  console.error(msg);
  process.exit(1);
};

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"], // runs as root in CI containers
});
try {
  // The test CA is not in the system store; trusting it is the test's job.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const target = `${base}/fhir/Patient`;
  await page.goto(target);
  if (!page.url().startsWith(`${base}/auth/login?next=/fhir/Patient`)) fail(`not sent to sign in: ${page.url()}`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("#secret");
  await page.screenshot({ path: `${outDir}/enrollment.png`, fullPage: true });
  const secret = (await page.locator("#secret").textContent()).trim();
  if (!(await page.locator("svg[role=img] title").count())) fail("no QR code on the enrollment page");
  const code = execFileSync("oathtool", ["--totp", "-b", secret]).toString().trim();
  await page.getByLabel(/6-digit code/).fill(code);
  await page.getByRole("button", { name: "Activate" }).click();
  await page.waitForURL(target);
  const body = await page.textContent("body");
  if (!body.includes("Bundle")) fail(`protected page not shown: ${body.slice(0, 200)}`);
  await page.screenshot({ path: `${outDir}/after-login.png`, fullPage: true });
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "__Host-phiguard");
  if (!session) fail(`no session cookie: ${JSON.stringify(cookies)}`);
  console.log(JSON.stringify({ url: page.url(), cookie: { ...session, value: undefined } }));
} finally {
  await browser.close();
}
