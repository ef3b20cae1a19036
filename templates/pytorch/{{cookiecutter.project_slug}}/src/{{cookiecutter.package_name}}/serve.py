"""HTTP JSON API over an exported model.

    python -m {{ cookiecutter.package_name }}.serve --model runs/baseline/export --port 8000
    curl -s localhost:8000/health
    curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"instances": [...]}'

`POST /predict` takes `{"instances": [...]}` (at most MAX_INSTANCES) and answers
`{"predictions": [...]}`; a body that does not fit the model gets a 4xx with the reason.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Preprocessor
from {{ cookiecutter.package_name }}.errors import InvalidInput, UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.inference import load_predictor
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument

MAX_INSTANCES = 64
MAX_BODY_BYTES = 16 * 1024 * 1024


class PredictRequest(BaseModel):
    instances: list[Any] = Field(min_length=1, max_length=MAX_INSTANCES)


def create_app(model_dir: Path) -> FastAPI:
    """The API over `model_dir`, an export directory holding the model and preprocessor.json."""
    if not (model_dir / PREPROCESSOR_FILE).is_file():
        raise UserError(f"{model_dir} is not an export directory (no {PREPROCESSOR_FILE})")
    preprocessor = Preprocessor.load(model_dir / PREPROCESSOR_FILE)
    predict = load_predictor(model_dir)
    app = FastAPI(title="{{ cookiecutter.project_name }}")

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"body larger than {MAX_BODY_BYTES} bytes"}, 413)
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "task": "{{ cookiecutter.task }}",
            "objective": preprocessor.objective,
            "inputs": {name: list(shape) for name, (shape, _) in preprocessor.input_spec.items()},
        }

    @app.post("/predict")
    def predict_endpoint(request: PredictRequest) -> dict[str, Any]:
        try:
            examples = preprocessor.parse_instances(request.instances)
        except InvalidInput as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        outputs = predict(preprocessor.encode(examples))
        return {"predictions": preprocessor.describe_outputs(outputs)}

    return app


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve an exported model over HTTP.")
    parser.add_argument(
        "--model", type=Path, required=True, help="export directory: runs/<run>/export"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind; 0.0.0.0 in a container"
    )
    parser.add_argument("--port", type=int, default=8000)
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.model), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
