"""The console's pages: each module exposes `router = APIRouter()`."""
