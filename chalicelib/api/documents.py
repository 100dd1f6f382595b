"""Signed-in routes of the documents issued for an owner's invoices."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api import http, presenters
from chalicelib.api.signed_in import signed_in
from chalicelib.bootstrap import get_container
from chalicelib.services.ports import Principal

bp = Blueprint(__name__)


@bp.route("/documents/{document_id}/pdf", methods=["GET"])
@http.endpoint
@signed_in(bp)
def document_pdf(principal: Principal, document_id: str) -> Response:
    link = get_container().document_reader.pdf_link(principal.store_id, document_id)
    return http.json_response(presenters.link(link))


@bp.route("/documents/{document_id}/xml", methods=["GET"])
@http.endpoint
@signed_in(bp)
def document_xml(principal: Principal, document_id: str) -> Response:
    link = get_container().document_reader.xml_link(principal.store_id, document_id)
    return http.json_response(presenters.link(link))
