"""Local servers implementing the two OpenAPI fixtures (fixtures/petstore.yaml, library.json)."""

# ruff: noqa: E501  (payloads mirror the providers' documented shapes, one per line)
from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PETS = [{"id": 1, "name": "Rex", "tag": "dog"}, {"id": 2, "name": "Tom", "tag": "cat"}, {"id": 3, "name": "Polly", "tag": None}]  # fmt: skip
BOOKS = {
    "978-0-13-468599-1": {"isbn": "978-0-13-468599-1", "title": "The Pragmatic Programmer", "authors": [{"name": "Hunt"}, {"name": "Thomas"}], "year": 1999},
    "978-0-262-03384-8": {"isbn": "978-0-262-03384-8", "title": "Introduction to Algorithms", "authors": [{"name": "Cormen"}], "year": 2009},
}  # fmt: skip


def petstore(received: list[dict[str, Any]]) -> Starlette:
    async def list_pets(request: Request) -> Response:
        received.append({"op": "listPets", "query": dict(request.query_params)})
        limit = int(request.query_params.get("limit", 100))
        return JSONResponse(PETS[:limit])

    async def create_pet(request: Request) -> Response:
        body = await request.json()
        received.append({"op": "createPet", "body": body})
        return JSONResponse({"id": 4, **body}, 201)

    async def show_pet(request: Request) -> Response:
        pet_id = request.path_params["pet_id"]
        received.append({"op": "showPetById", "petId": pet_id})
        for pet in PETS:
            if str(pet["id"]) == pet_id:
                return JSONResponse(pet)
        return JSONResponse({"code": 404, "message": f"no pet {pet_id}"}, 404)

    async def delete_pet(request: Request) -> Response:
        received.append({"op": "deletePet", "petId": request.path_params["pet_id"]})
        return Response(status_code=204)

    async def inventory(request: Request) -> Response:
        received.append({"op": "getInventory", "request_id": request.headers.get("x-request-id")})
        return JSONResponse({"available": 2, "sold": 1})

    return Starlette(
        routes=[
            Route("/v1/pets", list_pets, methods=["GET"]),
            Route("/v1/pets", create_pet, methods=["POST"]),
            Route("/v1/pets/{pet_id}", show_pet, methods=["GET"]),
            Route("/v1/pets/{pet_id}", delete_pet, methods=["DELETE"]),
            Route("/v1/store/inventory", inventory, methods=["GET"]),
        ]
    )


def library(received: list[dict[str, Any]]) -> Starlette:
    async def search(request: Request) -> Response:
        body = await request.json()
        received.append({"op": "searchBooks", "body": body})
        words = body["query"].lower()
        authors = {a["name"] for a in (body.get("filters") or {}).get("authors", [])}
        found = [
            b
            for b in BOOKS.values()
            if words in b["title"].lower()
            and (not authors or authors & {a["name"] for a in b["authors"]})
        ]
        return JSONResponse(found)

    async def get_book(request: Request) -> Response:
        isbn = request.path_params["isbn"]
        received.append(
            {"op": "getBook", "isbn": isbn, "fields": request.query_params.getlist("fields")}
        )
        if isbn not in BOOKS:
            return JSONResponse({"title": "Not Found", "status": 404}, 404)
        fields = request.query_params.getlist("fields")
        book = BOOKS[isbn]
        return JSONResponse(
            {k: v for k, v in book.items() if not fields or k in fields or k == "isbn"}
        )

    return Starlette(
        routes=[
            Route("/api/books/search", search, methods=["POST"]),
            Route("/api/books/{isbn}", get_book, methods=["GET"]),
        ]
    )
