"""Grupos de Pessoas: the list, and a group's "Vencimentos" tab."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from wtforms import BooleanField, FieldList, FormField

from blueprints.forms import AccountEntryForm, PageForm, collect_rows, prepare_rows, tolerance_field
from dunning import editing, queries
from models import CustomerGroup, db

bp = Blueprint("groups", __name__, url_prefix="/grupos")


class GroupPolicyForm(PageForm):
    """The "Vencimentos" tab of a group."""

    send_email = BooleanField("Enviar e-mail sobre atraso de pendências financeiras")
    tolerance_days = tolerance_field()
    entries = FieldList(FormField(AccountEntryForm))


@bp.route("/")
def index():
    """Groups, paginated and searchable."""
    search = request.args.get("q", "")
    page = db.paginate(queries.groups_query(search), per_page=current_app.config["PER_PAGE"],
                       error_out=False)
    sizes = queries.group_sizes(db.session, [g.id for g in page.items])
    return render_template("groups/index.html", page=page, search=search, sizes=sizes)


@bp.route("/<int:group_id>", methods=["GET", "POST"])
def show(group_id: int):
    """A group's "Vencimentos" tab; saves on POST."""
    group = db.session.get(CustomerGroup, group_id) or abort(404)
    accounts = queries.accounts(db.session)
    if request.method == "POST":
        form = GroupPolicyForm()
    else:
        form = GroupPolicyForm(data={
            "send_email": group.send_email, "tolerance_days": group.tolerance_days,
            "entries": [{"account": r.account_id, "send_email": r.send_email}
                        for r in group.account_rules]})
        form.entries.append_entry()
    prepare_rows(form.entries, accounts)
    if form.validate_on_submit():
        entries = collect_rows(form.entries, accounts, with_checkbox=True)
        if entries is not None:
            editing.save_group_policy(db.session, group, bool(form.send_email.data),
                                      form.tolerance_days.data, entries)
            flash("Vencimentos do grupo salvos.", "success")
            return redirect(url_for("groups.show", group_id=group.id))
    if request.method == "POST":
        flash("Corrija os campos indicados; nada foi salvo.", "error")
    return render_template("groups/show.html", group=group, form=form)
