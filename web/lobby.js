// The lobby: the list of live rooms, refreshed every few seconds while it shows.

import { describeError } from "./protocol.js";
import { app } from "./context.js";
import * as ui from "./ui.js";

const ROOM_LIST_REFRESH_MS = 5000;

/** Shows the lobby; `join(roomId)` is what a room's Join button does. */
export function showLobby(join) {
  ui.showView("lobby");
  refreshRooms(join);
  stopRoomList();
  app.listTimer = setInterval(() => refreshRooms(join), ROOM_LIST_REFRESH_MS);
}

export function stopRoomList() {
  if (app.listTimer) clearInterval(app.listTimer);
  app.listTimer = null;
}

export async function refreshRooms(join) {
  if (!app.conn || !app.conn.isOpen) return;
  try {
    const reply = await app.conn.request("list_rooms", { limit: 50 });
    app.rooms = reply.rooms || [];
    ui.renderRoomList(app.rooms, { join });
  } catch (err) {
    if (err.code !== "disconnected") ui.notify(describeError(err), "error");
  }
}
