// The demo chat page: post into the local Webex stand-in, poll its messages, draw the bot's threads.
// Plain JavaScript, no framework. Message bodies and cards arrive as HTML rendered (and escaped) by the server.
"use strict";
(function () {
  let session = null;
  let after = 0;
  let pending = [];
  const nodes = new Map(); // message id -> element

  const $ = (sel) => document.querySelector(sel);

  function size(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " kB";
    return n + " bytes";
  }

  function fill(el, item) {
    const body = el.querySelector(":scope > .body");
    body.innerHTML = item.html + item.card;
    for (const f of item.files) {
      if (f.image) {
        const img = document.createElement("img");
        img.className = "picture";
        img.src = f.url;
        img.alt = f.name;
        body.appendChild(img);
      } else {
        const a = document.createElement("a");
        a.className = "file";
        a.href = f.url;
        a.textContent = "📎 " + f.name + " (" + size(f.size) + ")";
        body.appendChild(a);
      }
    }
    el.dataset.edits = item.edits;
  }

  function draw(item) {
    let el = nodes.get(item.id);
    if (!el) {
      el = document.createElement("div");
      el.className = "msg " + (item.from === "bot" ? "bot" : "user");
      el.dataset.id = item.id;
      const who = document.createElement("div");
      who.className = "who";
      who.textContent = item.who;
      const body = document.createElement("div");
      body.className = "body";
      el.append(who, body);
      // a thread is its first message with the replies under it, as Webex clients draw them
      const parent = item.parentId && nodes.get(item.parentId);
      if (parent) {
        const wrap = parent.closest(".thread");
        let box = wrap.querySelector(":scope > .replies");
        if (!box) {
          box = document.createElement("div");
          box.className = "replies";
          wrap.appendChild(box);
        }
        box.appendChild(el);
      } else {
        const wrap = document.createElement("div");
        wrap.className = "thread";
        wrap.appendChild(el);
        $("#thread").appendChild(wrap);
      }
      nodes.set(item.id, el);
    }
    fill(el, item);
  }

  async function poll() {
    try {
      const resp = await fetch(session.feed + "?after=" + after, { cache: "no-store" });
      if (resp.ok) {
        const data = await resp.json();
        for (const item of data.items) {
          draw(item);
          after = Math.max(after, item.seq);
        }
        if (data.items.length) window.scrollTo(0, document.body.scrollHeight);
      }
    } catch (e) {
      // the demo server restarted or is busy; try again on the next tick
    }
    setTimeout(poll, 500);
  }

  async function say(text, file) {
    const form = new FormData();
    form.append("roomId", session.roomId);
    form.append("email", session.email);
    form.append("text", text);
    if (file) form.append("files", file, file.name);
    const resp = await fetch(session.say, { method: "POST", body: form });
    if (!resp.ok) throw new Error("the sandbox refused the message (" + resp.status + ")");
  }

  async function send(event) {
    if (event) event.preventDefault();
    const text = $("#text").value.trim();
    const files = pending.length ? pending : [null];
    if (!text && !pending.length) return;
    $("#send").disabled = true;
    try {
      // Webex carries one file per message: each file is its own message, the text rides with the first
      for (let i = 0; i < files.length; i++) await say(i === 0 ? text : "", files[i]);
      $("#text").value = "";
      attach([]);
    } catch (e) {
      alert(e.message);
    } finally {
      $("#send").disabled = false;
    }
  }

  function attach(files) {
    pending = Array.from(files);
    $("#attached").textContent = pending.length ? "attached: " + pending.map((f) => f.name).join(", ") : "";
    if (!pending.length) $("#file").value = "";
  }

  async function press(button) {
    const card = button.closest(".card");
    const msg = button.closest(".msg");
    const inputs = JSON.parse(button.dataset.action || "{}");
    for (const input of card.querySelectorAll("input[data-input-id]")) inputs[input.dataset.inputId] = input.value;
    button.disabled = true;
    try {
      const resp = await fetch(session.press, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ messageId: msg.dataset.id, email: session.email, inputs: inputs }),
      });
      if (!resp.ok) throw new Error("the sandbox refused the card action (" + resp.status + ")");
    } catch (e) {
      alert(e.message);
    } finally {
      setTimeout(() => { button.disabled = false; }, 800);
    }
  }

  async function start() {
    session = await (await fetch("/demo/session")).json();
    $("#send-form").addEventListener("submit", send);
    $("#text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) send(e);
    });
    $("#file").addEventListener("change", (e) => attach(e.target.files));
    const drop = $("#drop");
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      attach(e.dataTransfer.files);
      send();
    });
    for (const b of document.querySelectorAll("button.example")) {
      b.addEventListener("click", () => { $("#text").value = b.dataset.text; send(); });
    }
    $("#thread").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-action]");
      if (button) press(button);
    });
    poll();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
