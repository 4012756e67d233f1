"""The protected route of the tutorial: who is calling."""
from rest_framework.decorators import api_view
from rest_framework.response import Response


@api_view(["GET"])
def hello(request):
    return Response({"message": f"Hello, {request.user.username}!", "id": request.user.id})
