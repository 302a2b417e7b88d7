// Admin pages: who is online now (with force-disconnect and ban) and reviewer accounts.

import { get, post } from "./api.js";
import { chip, fill, h, table, toast, when } from "./dom.js";

const REFRESH_MS = 5_000;

function reasonPrompt(what) {
  const reason = window.prompt(`Reason to ${what} (recorded in the audit log):`);
  return reason && reason.trim().length >= 3 ? reason.trim() : null;
}

export class LivePage {
  constructor(root) {
    this.root = root;
    this.timer = null;
  }

  async mount() {
    await this.render();
    this.timer = setInterval(() => this.render(), REFRESH_MS);
  }

  unmount() {
    clearInterval(this.timer);
  }

  async render() {
    let data;
    try {
      data = await get("/api/admin/live");
    } catch (error) {
      fill(this.root, h("p", { class: "empty", text: error.message }));
      return;
    }
    const o = data.online;
    fill(
      this.root,
      h(
        "div",
        { class: "page__head" },
        h("h1", { class: "page__title", text: "Live" }),
        h("span", {
          class: "page__stamp",
          text: `${o.total} online · video ${o.video.matched} chatting, ${o.video.waiting} waiting · text ${o.text.matched} chatting, ${o.text.waiting} waiting`,
        }),
      ),
      h("h2", { class: "side__title", text: "Matches" }),
      table(
        [
          { label: "Match", cell: (m) => m.id, class: "mono" },
          { label: "Mode", cell: (m) => chip(m.mode) },
          { label: "Visitors", cell: (m) => `${m.a} ↔ ${m.b}`, class: "mono" },
          { label: "For", cell: (m) => `${Math.round(m.duration_s)} s` },
        ],
        data.matches,
        { empty: "No matches right now.", testid: "live-matches" },
      ),
      h("h2", { class: "side__title", text: "Visitors" }),
      table(
        [
          { label: "Visitor", cell: (v) => v.id, class: "mono" },
          { label: "IP", cell: (v) => v.ip, class: "mono" },
          { label: "State", cell: (v) => chip(v.state, v.state === "matched" ? "ok" : "") },
          { label: "Mode", cell: (v) => v.mode ?? "–" },
          {
            label: "",
            cell: (v) =>
              h(
                "span",
                { class: "row-actions" },
                h("button", {
                  class: "btn btn--ghost btn--small",
                  type: "button",
                  "data-testid": "disconnect",
                  text: "Disconnect",
                  onclick: () => this.disconnect(v),
                }),
                h("button", {
                  class: "btn btn--danger btn--small",
                  type: "button",
                  text: "Ban 1 day",
                  onclick: () => this.ban(v),
                }),
              ),
          },
        ],
        data.visitors,
        { empty: "Nobody is online.", testid: "live-visitors" },
      ),
    );
  }

  async disconnect(visitor) {
    const reason = reasonPrompt(`disconnect ${visitor.id}`);
    if (!reason) return;
    try {
      await post(`/api/admin/live/${encodeURIComponent(visitor.id)}/disconnect`, { reason });
      toast(`Disconnected ${visitor.id}`, "ok");
    } catch (error) {
      toast(error.message);
    }
    await this.render();
  }

  async ban(visitor) {
    const reason = reasonPrompt(`ban ${visitor.id} for a day`);
    if (!reason) return;
    try {
      await post("/api/admin/bans", { visitor: visitor.id, reason, duration_s: 86_400 });
      toast(`Banned ${visitor.id}`, "ok");
    } catch (error) {
      toast(error.message);
    }
    await this.render();
  }
}

export class AccountsPage {
  constructor(root, me) {
    this.root = root;
    this.me = me;
  }

  async mount() {
    await this.render();
  }

  unmount() {}

  async render() {
    let accounts = [];
    try {
      accounts = (await get("/api/admin/accounts")).accounts;
    } catch (error) {
      toast(error.message);
    }
    const name = h("input", { class: "input input--small", placeholder: "name", "aria-label": "Name", maxlength: 32 });
    const password = h("input", {
      class: "input input--small",
      type: "password",
      placeholder: "password (12+ characters)",
      autocomplete: "new-password",
      "aria-label": "Password",
    });
    const role = h(
      "select",
      { class: "input input--select", "aria-label": "Role" },
      h("option", { value: "moderator", text: "moderator" }),
      h("option", { value: "admin", text: "admin" }),
    );
    const create = async (event) => {
      event.preventDefault();
      try {
        await post("/api/admin/accounts", { name: name.value, role: role.value, password: password.value });
        toast(`Created ${name.value}`, "ok");
        await this.render();
      } catch (error) {
        toast(error.message);
      }
    };
    fill(
      this.root,
      h("div", { class: "page__head" }, h("h1", { class: "page__title", text: "Accounts" })),
      table(
        [
          { label: "Name", cell: (a) => a.name },
          { label: "Role", cell: (a) => chip(a.role, a.role === "admin" ? "warn" : "") },
          { label: "Created", cell: (a) => when(a.created_at) },
          { label: "Last login", cell: (a) => when(a.last_login_at) },
          { label: "State", cell: (a) => (a.disabled ? chip("disabled", "danger") : chip("active", "ok")) },
          {
            label: "",
            cell: (a) =>
              a.name === this.me.name
                ? ""
                : h("button", {
                    class: "btn btn--ghost btn--small",
                    type: "button",
                    text: a.disabled ? "Enable" : "Disable",
                    onclick: () => this.toggle(a),
                  }),
          },
        ],
        accounts,
        { testid: "accounts-table" },
      ),
      h(
        "form",
        { class: "panel manual", onsubmit: create },
        h("h2", { class: "side__title", text: "New reviewer" }),
        h("div", { class: "manual__row" }, name, role, password, h("button", { class: "btn btn--primary btn--small", type: "submit", text: "Create" })),
      ),
    );
  }

  async toggle(account) {
    const reason = reasonPrompt(`${account.disabled ? "enable" : "disable"} ${account.name}`);
    if (!reason) return;
    try {
      await post(`/api/admin/accounts/${encodeURIComponent(account.id)}/disabled`, {
        disabled: !account.disabled,
        reason,
      });
    } catch (error) {
      toast(error.message);
    }
    await this.render();
  }
}
