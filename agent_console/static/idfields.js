// The full ID number, name and birth date of a still recognised as an ID card's photo side, for the
// specialist serving the session only (GET /api/sessions/{sid}/materials/{mid}/id-fields; anyone
// else gets 403 not_serving). Each answer is an unmasked view the server writes to the access log,
// so a still's fields are fetched once per console session, when the still is first shown, and
// kept in memory only (never in the DOM of other panes, never in storage).

import { h } from "../shared/dom.js";
import { get } from "../shared/api.js";
import { t } from "./i18n.js";
import { maskedNumber } from "./recognition.js";

export class IdFields {
  constructor(onLoaded) {
    this.onLoaded = onLoaded;
    this.reset(null);
  }

  reset(sid) {
    this.sid = sid;
    this.byId = new Map(); // material id -> {state: "loading"|"ok"|"masked", fields}
  }

  /** Whether the viewer should show (and so fetch) the full fields of `m`. */
  wanted(m) {
    return !!m && m.class === "id_card_front" && !!maskedNumber(m);
  }

  /** The fields of `m` as known now; starts the one fetch when the still is first shown. */
  of(m) {
    if (!this.wanted(m) || !this.sid) return null;
    let got = this.byId.get(m.id);
    if (!got) {
      got = { state: "loading", fields: null };
      this.byId.set(m.id, got);
      const sid = this.sid;
      get(`/api/sessions/${encodeURIComponent(sid)}/materials/${m.id}/id-fields`).then(
        (fields) => Object.assign(got, { state: "ok", fields }),
        // not_serving (a console that does not hold the session), no_variant, a server without the
        // route: the masked number stays; nothing is retried behind the specialist's back.
        (err) => Object.assign(got, { state: "masked", code: err.code || "" }),
      ).then(() => {
        if (this.sid === sid) this.onLoaded(m.id);
      });
    }
    return got;
  }

  /** The ID panel under the viewer: full fields for the serving specialist, else the masked number. */
  panel(m) {
    if (!this.wanted(m)) return null;
    const got = this.of(m);
    const valid = m.recognition && m.recognition.id_number_valid;
    const check = valid === true ? h("span.badge.ok", t("idf.valid")) : valid === false ? h("span.badge.bad", t("idf.invalid")) : null;
    if (got && got.state === "ok" && got.fields && got.fields.id_number) {
      const f = got.fields;
      return h("dl.idf.full", { dataset: { material: m.id } },
        h("dt", t("idf.number")), h("dd", h("b#idf-number.idno", f.id_number), " ", check),
        f.name ? [h("dt", t("idf.name")), h("dd#idf-name", f.name)] : null,
        f.birth_date ? [h("dt", t("idf.birth")), h("dd#idf-birth", f.birth_date)] : null);
    }
    return h("dl.idf.masked", { dataset: { material: m.id } },
      h("dt", t("idf.number")), h("dd", h("b#idf-number.idno", maskedNumber(m)), " ", check,
        h("span.muted", ` ${got && got.state === "loading" ? t("idf.loading") : t("idf.masked_only")}`)));
  }
}
