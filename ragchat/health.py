from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """Liveness for load balancers: 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not healthy", and says why
        return JsonResponse({"status": "error", "database": f"unreachable: {exc.__class__.__name__}"},
                            status=503)
    return JsonResponse({"status": "ok", "database": connection.vendor})
