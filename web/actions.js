// What the room's buttons do: one request each, through room.js's `roomRequest` (which shows
// a refusal and re-reads the room); what a reply changes goes through state.js.

import { describeError } from "./protocol.js";
import { app } from "./context.js";
import { GONE_CODES, applyState, backToLobby, loadMembers, render, roomRequest, syncMedia } from "./room.js";
import * as state from "./state.js";
import * as ui from "./ui.js";

export const actions = {
  async requestMic() {
    const reply = await roomRequest("request_mic");
    if (reply) {
      state.micRequested(app, reply);
      render();
    }
  },
  async cancelMic() {
    const reply = await roomRequest("cancel_mic_request");
    if (reply) {
      app.myRequest = null;
      render();
    }
  },
  async acceptMic(user) {
    await roomRequest("accept_mic", { user });
  },
  async rejectMic(user) {
    const reply = await roomRequest("reject_mic", { user });
    if (reply) {
      state.micRejected(app, user);
      render();
    }
  },
  async takeSeat(seat) {
    await roomRequest("take_seat", { seat });
  },
  async switchSeat(seat) {
    // The reply comes before the two seat_changed events it causes.
    const reply = await roomRequest("switch_seat", { seat });
    if (reply && state.mySeat(app)) app.movingTo = reply.seat ?? seat;
  },
  async leaveSeat() {
    app.leavingSeat = true;
    const reply = await roomRequest("leave_seat");
    if (!reply) app.leavingSeat = false;
  },
  async answerInvite(accept) {
    const reply = await roomRequest("answer_invite", { accept });
    app.invite = null;
    ui.clearNotice("invite");
    if (reply !== null) render();
  },
  async selfMute(muted) {
    const reply = await roomRequest(muted ? "mute" : "unmute");
    if (reply && state.hostSelfMuted(app, muted)) {
      render();
      syncMedia();
    }
  },
  async seatMute(seat, muted) {
    await roomRequest(muted ? "mute_seat" : "unmute_seat", { seat });
  },
  async seatLock(seat, locked) {
    await roomRequest(locked ? "lock_seat" : "unlock_seat", { seat });
  },
  async seatKick(seat) {
    await roomRequest("kick_seat", { seat });
  },
  async invite(user) {
    const reply = await roomRequest("invite_to_seat", { user });
    if (reply) ui.notify(`Invited ${app.nameOf(user)} to a seat.`);
  },
  async kickMember(user, ban) {
    const name = app.nameOf(user);
    if (ban && !window.confirm(`Ban ${name} from this room?`)) return;
    const reply = await roomRequest("kick_member", { user, ban });
    if (reply) {
      app.members.delete(user);
      ui.notify(ban ? `${name} is banned.` : `${name} was removed.`);
      render();
    }
  },
  async setAdmin(user, admin) {
    await roomRequest("set_admin", { user, admin });
  },
  /** The mic queue brought into view (on a phone it sits below the stage and the chat). */
  showQueue() {
    showPanel("queue-panel");
  },
  showChat() {
    showPanel("chat-panel");
    document.querySelector("#chat-form input[name=text]").focus({ preventScroll: true });
  },
  showMembers() {
    showPanel("members-panel");
  },
  showStage() {
    window.scrollTo({ top: 0, behavior: "smooth" });
  },
  async moreMembers() {
    await loadMembers({ more: true });
  },
  retryMicrophone() {
    if (app.media) app.media.retryMicrophone();
  },
  async openChatroom() {
    const reply = await roomRequest("open_chatroom");
    if (reply && reply.room) applyState(reply.room);
  },
  async closeChatroom() {
    const reply = await roomRequest("close_chatroom");
    if (reply && reply.room) applyState(reply.room);
  },
  async closeRoom() {
    if (!window.confirm("End the room for everyone?")) return;
    const reply = await roomRequest("close_room");
    if (reply) backToLobby("You ended the room.");
  },
  async leaveRoom() {
    const isHost = app.room && app.room.host.user === app.session.user;
    if (isHost && !window.confirm("You are the host: leaving ends the room for everyone. Leave?")) return;
    const roomId = app.roomId;
    try {
      await app.conn.request("leave_room", { room: roomId });
    } catch (err) {
      if (!GONE_CODES.has(err.code)) ui.notify(describeError(err), "error");
    }
    backToLobby();
  },
  async chat(text) {
    return roomRequest("chat", { text });
  },
};

function showPanel(id) {
  const panel = document.getElementById(id);
  if (!panel || panel.hidden) return;
  panel.scrollIntoView({ behavior: "smooth", block: "start" });
  panel.classList.remove("flash");
  void panel.offsetWidth; // restart the highlight
  panel.classList.add("flash");
}
