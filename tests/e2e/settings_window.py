"""End-to-end: the real SocksBridge app driven over WebDriver (tauri-driver + WebKitWebDriver).

Run by scripts/e2e.sh inside its own D-Bus session and Xvfb display, with a temporary HOME:
opens the settings window, points the upstream at a microsocks started here, enables the
proxy, fetches a page through the app's port with curl, sees the Test button report a
latency, disables and sees the port closed; a corrupt settings file shows the notice.
Everything stays on 127.0.0.1.
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

from selenium import webdriver
from selenium.common.exceptions import NoSuchWindowException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.support.ui import Select, WebDriverWait

APP = os.environ["SOCKSBRIDGE_APP"]
SCREENSHOT = os.environ.get("SOCKSBRIDGE_SCREENSHOT")
CONFIG_DIR = os.path.join(os.environ["XDG_CONFIG_HOME"], "socksbridge")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}")


def port_closed(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return False
    except OSError:
        return True


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello through socksbridge"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Stack:
    """microsocks, an origin, tauri-driver; torn down in reverse."""

    def __init__(self):
        self.procs = []
        self.origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
        threading.Thread(target=self.origin.serve_forever, daemon=True).start()
        self.socks_port = free_port()
        self.procs.append(subprocess.Popen(["microsocks", "-i", "127.0.0.1", "-p", str(self.socks_port)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_listening(self.socks_port)
        self.driver_port = free_port()
        self.procs.append(subprocess.Popen(["tauri-driver", "--port", str(self.driver_port),
                                            "--native-port", str(free_port())],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_listening(self.driver_port)

    def session(self):
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": APP, "args": ["--settings"]})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{self.driver_port}", options=options)
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")
        return driver

    def close(self):
        self.origin.shutdown()
        self.origin.server_close()
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def next_frame(driver):
    driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")


def set_field(driver, element_id, value):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def cells_text(driver, tbody_id):
    # In one script: the rows are redrawn every second, element handles would go stale.
    return driver.execute_script(
        "return [...document.querySelectorAll(`#${arguments[0]} tr`)]"
        ".map((r) => [...r.cells].map((c) => c.textContent).join('\\t')).join('\\n')", tbody_id)


def server_rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#server-list .server-row")


def app_process(pid):
    try:
        return os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(APP)
    except OSError:
        return False


def windows_shown(title="SocksBridge"):
    """How many windows titled `title` are on the screen, by the X server's window list."""
    tree = subprocess.run(["xwininfo", "-root", "-children"], capture_output=True, text=True, check=True).stdout
    ids = [line.split()[0] for line in tree.splitlines() if f'"{title}"' in line]
    shown = 0
    for window in ids:
        info = subprocess.run(["xwininfo", "-id", window], capture_output=True, text=True, check=False).stdout
        shown += "Map State: IsViewable" in info
    return shown


def app_pids():
    found = subprocess.run(["pgrep", "-f", APP], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split() if app_process(int(p))]


def quit_app(driver):
    try:
        driver.quit()
    except WebDriverException:
        pass
    # The app lives in the tray after its window goes: end it like the session would, by
    # pid, and wait until it is gone, so the next launch cannot hand over to it.
    pids = app_pids()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)


class SettingsWindow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def setUp(self):
        os.makedirs(CONFIG_DIR, exist_ok=True)
        self.settings_file = os.path.join(CONFIG_DIR, "settings.json")
        for name in ("settings.json", "settings.json.bak"):
            path = os.path.join(CONFIG_DIR, name)
            if os.path.exists(path):
                os.remove(path)

    def saved(self):
        with open(self.settings_file) as f:
            return json.load(f)

    def test_configure_enable_fetch_test_and_disable(self):
        listen = free_port()
        origin_port = self.stack.origin.server_address[1]
        driver = self.stack.session()
        try:
            Select(driver.find_element(By.ID, "upstream-type")).select_by_value("socks5")
            set_field(driver, "upstream-host", "127.0.0.1")
            set_field(driver, "upstream-port", str(self.stack.socks_port))
            set_field(driver, "listen-port", str(listen))
            set_field(driver, "probe-target", f"127.0.0.1:{origin_port}")
            driver.find_element(By.ID, "save").click()
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "saved").text == "Saved.")
            saved = self.saved()
            self.assertEqual(saved["servers"][0]["url"], f"socks5h://127.0.0.1:{self.stack.socks_port}")
            self.assertEqual(saved["listen"], f"127.0.0.1:{listen}")

            driver.find_element(By.CSS_SELECTOR, "label.switch").click()
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "headline").text == "Proxy on")
            wait_listening(listen)
            out = subprocess.run(["curl", "-sS", "--max-time", "10", "-x", f"http://127.0.0.1:{listen}",
                                  f"http://localhost:{origin_port}/"], capture_output=True, text=True, check=False)
            self.assertEqual(out.stdout, "hello through socksbridge", out.stderr)
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "st-listen").text == f"127.0.0.1:{listen}")

            driver.find_element(By.ID, "test").click()
            WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, "test-result").text.startswith("Reached"))
            self.assertRegex(driver.find_element(By.ID, "test-result").text, r"in \d+(\.\d)? (ms|s)\.$")
            WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, "st-upstream").text.startswith("Reachable"))
            # The server's row says it is in use and shows its last check.
            WebDriverWait(driver, 15).until(lambda d: "in use" in server_rows(d)[0].text)
            # microsocks carries no UDP: the row says so, and its hover text says why.
            self.assertRegex(server_rows(driver)[0].text, r"\d+(\.\d)? (ms|s) · UDP: no$")
            why = driver.find_element(By.CSS_SELECTOR, "#server-list .server-check").get_attribute("title")
            self.assertIn(f"127.0.0.1:{self.stack.socks_port} cannot carry UDP", why)

            # Connections: an open tunnel is listed with its target and server; a failed
            # request's reason is kept.
            with socket.create_connection(("127.0.0.1", listen), timeout=5) as tunnel:
                tunnel.sendall(f"CONNECT 127.0.0.1:{origin_port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                self.assertIn(b" 200 ", tunnel.recv(1024))
                tunnel.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                reply = b""
                while b"hello" not in reply:  # head and body may come in separate reads
                    chunk = tunnel.recv(4096)
                    self.assertTrue(chunk, f"closed early: {reply!r}")
                    reply += chunk
                WebDriverWait(driver, 10).until(
                    lambda d: f"127.0.0.1:{origin_port}\tLocal SOCKS" in cells_text(d, "conn-rows"))
                self.assertIn("1 open", driver.find_element(By.ID, "conn-summary").text)
                if SCREENSHOT:
                    driver.execute_script("document.getElementById('h-connections').scrollIntoView()")
                    next_frame(driver)
                    shot = os.path.join(os.path.dirname(SCREENSHOT), "connections.png")
                    self.assertTrue(driver.save_screenshot(shot), "screenshot failed")
            dead = free_port()
            subprocess.run(["curl", "-sS", "--max-time", "10", "-x", f"http://127.0.0.1:{listen}",
                            f"http://127.0.0.1:{dead}/"], capture_output=True, check=False)
            WebDriverWait(driver, 10).until(
                lambda d: f"GET http://127.0.0.1:{dead}/" in d.find_element(By.ID, "conn-failures").text)

            if SCREENSHOT:
                driver.execute_script("window.scrollTo(0, 0)")
                next_frame(driver)
                self.assertTrue(driver.save_screenshot(SCREENSHOT), "screenshot failed")
                self.assertGreater(os.path.getsize(SCREENSHOT), 10_000)

            # The UDP switch reaches the file.
            self.assertTrue(driver.find_element(By.ID, "udp").is_selected(), "UDP is on by default")
            driver.find_element(By.ID, "udp").click()
            driver.find_element(By.ID, "save").click()
            WebDriverWait(driver, 10).until(lambda d: self.saved()["udp"] is False)

            driver.find_element(By.CSS_SELECTOR, "label.switch").click()
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "headline").text == "Proxy off")
            deadline = time.monotonic() + 10
            while not port_closed(listen) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertTrue(port_closed(listen), "port still open after disabling")
        finally:
            quit_app(driver)

    def test_servers_import_from_the_clipboard_edit_reorder_choose_and_export(self):
        links = ("Here you go:\nsocks5h://127.0.0.1:9050#Tor\n"
                 "http://alice:s3cret@127.0.0.1:3128#Office\nftp://nope:1\n")
        subprocess.run(["xclip", "-selection", "clipboard"], input=links, text=True, check=True, timeout=5)
        driver = self.stack.session()
        try:
            self.assertEqual([r.find_element(By.CLASS_NAME, "server-name").text for r in server_rows(driver)], ["Local SOCKS"])
            driver.find_element(By.CSS_SELECTOR, "#links-box summary").click()
            driver.find_element(By.ID, "import-clipboard").click()
            WebDriverWait(driver, 10).until(lambda d: len(server_rows(d)) == 3)
            result = driver.find_element(By.ID, "links-result").text
            self.assertIn("2 added", result)
            self.assertIn("ftp://nope:1: unknown scheme 'ftp'", result)
            # The last import is selected; edit the Tor one: rename, move to the top, choose it.
            server_rows(driver)[1].click()
            self.assertEqual(driver.find_element(By.ID, "upstream-port").get_attribute("value"), "9050")
            set_field(driver, "server-name", "Tor browser")
            driver.find_element(By.ID, "server-up").click()
            names = [r.find_element(By.CLASS_NAME, "server-name").text for r in server_rows(driver)]
            self.assertEqual(names, ["Tor browser", "Local SOCKS", "Office"])
            driver.find_elements(By.CSS_SELECTOR, "#server-list input[type=radio]")[0].click()
            server_rows(driver)[2].click()
            self.assertEqual(driver.find_element(By.ID, "upstream-username").get_attribute("value"), "alice")
            driver.find_element(By.ID, "server-duplicate").click()
            driver.find_element(By.ID, "server-remove").click()
            self.assertEqual(len(server_rows(driver)), 3)
            driver.find_element(By.ID, "save").click()
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "saved").text == "Saved.")
            saved = self.saved()
            self.assertEqual([s["name"] for s in saved["servers"]], ["Tor browser", "Local SOCKS", "Office"])
            self.assertEqual(saved["servers"][2]["url"], "http://alice:s3cret@127.0.0.1:3128")
            self.assertEqual(saved["active"], "Tor browser")
            if SCREENSHOT:
                driver.execute_script("document.getElementById('h-upstream').scrollIntoView()")
                next_frame(driver)
                shot = os.path.join(os.path.dirname(SCREENSHOT), "servers.png")
                self.assertTrue(driver.save_screenshot(shot), "screenshot failed")
            # Export: links with names, the password only when asked for.
            driver.find_element(By.ID, "export").click()
            WebDriverWait(driver, 10).until(lambda d: "#Office" in d.find_element(By.ID, "links").get_attribute("value"))
            exported = driver.find_element(By.ID, "links").get_attribute("value")
            self.assertIn("socks5h://127.0.0.1:9050#Tor%20browser", exported)
            self.assertIn("http://alice@127.0.0.1:3128#Office", exported)
            self.assertNotIn("s3cret", exported)
            copied = subprocess.run(["xclip", "-o", "-selection", "clipboard"], capture_output=True, text=True,
                                    check=True, timeout=5).stdout
            self.assertEqual(copied.strip(), exported.strip())
        finally:
            quit_app(driver)

    def test_the_window_speaks_each_language(self):
        catalogues = {}
        for lang in ("en", "zh-CN", "ru"):
            with open(os.path.join(ROOT, "ui", "i18n", f"{lang}.json"), encoding="utf-8") as f:
                catalogues[lang] = json.load(f)
        driver = self.stack.session()
        try:
            for lang in ("zh-CN", "ru", "en"):
                words = catalogues[lang]
                Select(driver.find_element(By.ID, "language")).select_by_value(lang)
                driver.find_element(By.ID, "save").click()
                WebDriverWait(driver, 10).until(
                    lambda d: d.find_element(By.ID, "h-upstream").text == words["servers.heading"])
                self.assertEqual(driver.find_element(By.ID, "save").text, words["form.save"])
                self.assertEqual(driver.find_element(By.ID, "headline").text, words["status.off"])
                self.assertEqual(driver.find_element(By.TAG_NAME, "html").get_attribute("lang"), lang)
                self.assertEqual(self.saved()["app"]["language"], lang)
                # This session has no tray host: the window says so, in the language chosen.
                self.assertEqual(driver.find_element(By.ID, "no-tray").text, words["notray.hint"])
                if SCREENSHOT:
                    shot = os.path.join(os.path.dirname(SCREENSHOT), f"settings-{lang}.png")
                    driver.execute_script("window.scrollTo(0, 0)")
                    next_frame(driver)
                    self.assertTrue(driver.save_screenshot(shot), "screenshot failed")
                    self.assertGreater(os.path.getsize(shot), 10_000)
                if lang == "ru":
                    # An error only the core finds (two servers of one name), in Russian.
                    driver.find_element(By.ID, "server-duplicate").click()
                    set_field(driver, "server-name", "Local SOCKS")
                    driver.find_element(By.ID, "save").click()
                    WebDriverWait(driver, 10).until(
                        lambda d: "уже название другого сервера" in d.find_element(By.ID, "err-servers").text)
                    driver.find_element(By.ID, "server-remove").click()
                    self.assertEqual(driver.find_element(By.ID, "err-servers").text, "", "gone with the cause")
        finally:
            quit_app(driver)

    def test_without_a_tray_closing_asks_and_launching_again_brings_the_window_back(self):
        driver = self.stack.session()
        try:
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "no-tray").is_displayed())
            self.assertIn("gnome-shell-extension-appindicator", driver.find_element(By.ID, "no-tray").text)
            self.assertEqual(windows_shown(), 1)
            driver.find_element(By.ID, "listen-port").send_keys(Keys.ESCAPE)
            WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.getElementById('ask-close').open"))
            self.assertEqual(driver.find_element(By.ID, "ask-keep").text, "Keep running in the background")
            self.assertEqual(driver.find_element(By.ID, "ask-quit").text, "Quit SocksBridge")
            if SCREENSHOT:
                next_frame(driver)
                shot = os.path.join(os.path.dirname(SCREENSHOT), "no-tray.png")
                self.assertTrue(driver.save_screenshot(shot), "screenshot failed")
            try:
                driver.find_element(By.ID, "ask-keep").click()
            except NoSuchWindowException:
                # The click closes the window it was sent to; WebKitWebDriver may answer the
                # click after the window is gone. The X server's list below is the judge.
                pass
            deadline = time.monotonic() + 10
            while windows_shown() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(windows_shown(), 0, "the window closed")
            self.assertTrue(app_pids(), "the app keeps running in the background")
            # Launching again hands over to the running app, which shows its window.
            subprocess.run([APP], timeout=60, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 20
            while not windows_shown() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(windows_shown(), 1, "launching again brought the window back")
        finally:
            quit_app(driver)

    def test_a_corrupt_settings_file_shows_the_notice(self):
        with open(self.settings_file, "w") as f:
            f.write('{"listen": ')
        driver = self.stack.session()
        try:
            notice = driver.find_element(By.ID, "notice")
            WebDriverWait(driver, 10).until(lambda d: notice.is_displayed())
            self.assertIn("was damaged", notice.text)
            self.assertIn("settings.json.bak", notice.text)
            self.assertTrue(os.path.exists(self.settings_file + ".bak"))
            self.assertEqual(driver.find_element(By.ID, "listen-port").get_attribute("value"), "1095")
        finally:
            quit_app(driver)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"e2e: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
