// Drives Open WebUI in headless Chromium the way a person does (called by stack.py).
// argv[2]: {"url", "prompts": [...], "shots": dir}. For each prompt: type it into the chat box,
// press Enter, wait until its answer is finished (the answer's Copy button appears, as it
// does only for a finished answer), and print one JSON line with the answer as the page renders it.
// A screenshot of each finished turn goes to `shots`.
const { chromium } = require('playwright-core');

const TURN_TIMEOUT = 90000;

(async () => {
  const job = JSON.parse(process.argv[2]);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    // The id of the last assistant message on the page (each message's element is message-<uuid>).
    await page.addInitScript(() => {
      window.lastAnswerId = () => {
        const answers = document.querySelectorAll('.chat-assistant');
        return answers.length ? answers[answers.length - 1].closest('[id^="message-"]').id : null;
      };
    });
    await page.goto(job.url, { waitUntil: 'load' });
    const input = page.locator('#chat-input');
    await input.waitFor({ timeout: 60000 });
    // A fresh install greets with its release notes; close them as a person would.
    const notes = page.getByRole('button', { name: "Okay, Let's Go!" });
    await notes.waitFor({ timeout: 5000 }).then(() => notes.click(), () => {});
    for (const [turn, prompt] of job.prompts.entries()) {
      const previous = await page.evaluate(() => lastAnswerId());
      await input.click();
      await page.keyboard.type(prompt);
      await page.keyboard.press('Enter');
      // The page keeps only the latest messages in the DOM: wait for a new last answer.
      await page.waitForFunction((before) => lastAnswerId() !== before, previous, { timeout: TURN_TIMEOUT });
      const message = page.locator(`[id="${await page.evaluate(() => lastAnswerId())}"]`);
      await message.locator('button.copy-response-button').waitFor({ timeout: TURN_TIMEOUT });
      const shown = await message.innerText();
      await page.screenshot({ path: `${job.shots}/turn-${String(turn + 1).padStart(2, '0')}.png` });
      console.log(JSON.stringify({ turn: turn + 1, prompt, shown, url: page.url() }));
    }
  } finally {
    await browser.close();
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
