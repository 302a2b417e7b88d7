// The reviewer console (docs/console.md): login, then pages chosen by the URL's hash
// (#/queue, #/dashboard, ...). The session lives in an HttpOnly cookie the page never
// sees; the page keeps only the CSRF token that login and /api/auth/session hand out.

import { AccountsPage, LivePage } from "./admin.js";
import { ApiError, apiEvents, get, post, setCsrf } from "./api.js";
import { DashboardPage } from "./dashboard.js";
import { fill, h, toast } from "./dom.js";
import { AuditPage, BansPage, DecisionsPage, appealsPage, reportsPage } from "./lists.js";
import { QueuePage } from "./queue.js";

const byId = (id) => document.getElementById(id);

const PAGES = {
  queue: (root, app) => new QueuePage(root, app.me, (n) => app.setCount(n)),
  dashboard: (root) => new DashboardPage(root),
  bans: (root) => new BansPage(root),
  reports: (root) => reportsPage(root),
  appeals: (root) => appealsPage(root),
  decisions: (root) => new DecisionsPage(root),
  live: (root) => new LivePage(root),
  audit: (root) => new AuditPage(root),
  accounts: (root, app) => new AccountsPage(root, app.me),
};
const ADMIN_PAGES = new Set(["live", "audit", "accounts"]);

class Console {
  constructor() {
    this.me = null;
    this.page = null;
    this.shell = byId("shell");
  }

  async init() {
    byId("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.login();
    });
    byId("logout").addEventListener("click", () => this.logout());
    window.addEventListener("hashchange", () => this.route());
    apiEvents.addEventListener("unauthenticated", () => this.showLogin("Your session ended: log in again."));
    try {
      const { reviewer } = await get("/api/auth/session");
      if (reviewer) this.enter(reviewer);
      else this.showLogin();
    } catch (error) {
      this.showLogin(error.message);
    }
  }

  showLogin(message = null) {
    this.page?.unmount();
    this.page = null;
    this.me = null;
    setCsrf(null);
    this.shell.dataset.view = "login";
    byId("app").hidden = true;
    byId("login").hidden = false;
    const error = byId("login-error");
    error.textContent = message ?? "";
    error.hidden = !message;
    byId("login-password").value = "";
    byId("login-name").focus();
  }

  async login() {
    const error = byId("login-error");
    try {
      const me = await post("/api/auth/login", {
        name: byId("login-name").value,
        password: byId("login-password").value,
      });
      byId("login-password").value = "";
      this.enter(me);
    } catch (problem) {
      error.textContent =
        problem instanceof ApiError && problem.status === 401
          ? "Wrong name or password."
          : problem.message;
      error.hidden = false;
    }
  }

  async logout() {
    try {
      await post("/api/admin/logout");
    } catch {
      // The session may be gone already; the login form is what matters.
    }
    this.showLogin();
  }

  enter(me) {
    this.me = me;
    setCsrf(me.csrf);
    this.shell.dataset.view = "app";
    this.shell.dataset.role = me.role;
    byId("login").hidden = true;
    byId("app").hidden = false;
    byId("me-name").textContent = me.name;
    byId("me-role").textContent = me.role;
    for (const element of document.querySelectorAll("[data-admin]")) {
      element.hidden = me.role !== "admin";
    }
    this.route();
  }

  setCount(n) {
    byId("nav-queue-count").textContent = n ? String(n) : "";
  }

  async route() {
    if (!this.me) return;
    let name = (location.hash.match(/^#\/([a-z]+)/) ?? [])[1] ?? "queue";
    if (!PAGES[name] || (ADMIN_PAGES.has(name) && this.me.role !== "admin")) name = "queue";
    for (const link of document.querySelectorAll(".nav__link")) {
      if (link.dataset.page === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    this.page?.unmount();
    const root = fill(byId("page"));
    root.dataset.page = name;
    this.page = PAGES[name](root, this);
    try {
      await this.page.mount();
    } catch (error) {
      console.error("duet review: page failed", error);
      toast(error.message ?? "The page failed to load.");
      root.append(h("p", { class: "empty", text: "This page could not be loaded." }));
    }
  }
}

new Console().init();
